package metadata

import (
	"encoding/json"
	"errors"
	"fmt"
	iofs "io/fs"
	"path/filepath"
	"strconv"
	"strings"

	"github.com/logd/logd/internal/vfs"
)

// Data directories written before the metadata quorum (releases up to 1c8937d) keep a single
// node's metadata in two files beside the partition logs:
//
//	logd-metadata.json   {"cluster_id": "...", "topics": [{"name", "id" (16 numbers), "partitions", "configs"}]}
//	producer-id-block    one decimal number: the first producer id not yet reserved
//
// A node finding them imports them into the quorum once (ImportTopics, proposed by the
// controller) and then renames them with the suffix LegacyImportedSuffix, so a topic deleted
// later does not come back at the next start. The logs themselves stay where they are.
const (
	LegacyMetadataFile   = "logd-metadata.json"
	LegacyProducerIDFile = "producer-id-block"
	LegacyImportedSuffix = ".imported"
)

// Legacy is the metadata of a data directory written before the quorum.
type Legacy struct {
	ClusterID string
	Topics    []Topic
	// NextProducerID is the first producer id the old node had not reserved: every id it may
	// have handed out is below it.
	NextProducerID int64
}

// ReadLegacy reads dir's pre-quorum metadata files; ok is false when there is no metadata
// file (a new directory, or one imported already).
func ReadLegacy(fs vfs.FS, dir string) (l Legacy, ok bool, err error) {
	name := filepath.Join(dir, LegacyMetadataFile)
	data, err := vfs.ReadFile(fs, name)
	if errors.Is(err, iofs.ErrNotExist) {
		return Legacy{}, false, nil
	}
	if err != nil {
		return Legacy{}, false, err
	}
	var file struct {
		ClusterID string  `json:"cluster_id"`
		Topics    []Topic `json:"topics"`
	}
	if err := json.Unmarshal(data, &file); err != nil {
		return Legacy{}, false, fmt.Errorf("metadata file %s of an older release is corrupt: %w", name, err)
	}
	for _, t := range file.Topics {
		if err := ValidateTopicName(t.Name); err != nil || t.Partitions <= 0 || t.Partitions > MaxPartitions || t.ID == (TopicID{}) {
			return Legacy{}, false, fmt.Errorf("metadata file %s of an older release: bad topic %q (%d partitions)", name, t.Name, t.Partitions)
		}
	}
	l = Legacy{ClusterID: file.ClusterID, Topics: file.Topics}
	pidName := filepath.Join(dir, LegacyProducerIDFile)
	data, err = vfs.ReadFile(fs, pidName)
	switch {
	case errors.Is(err, iofs.ErrNotExist):
	case err != nil:
		return Legacy{}, false, err
	default:
		n, perr := strconv.ParseInt(strings.TrimSpace(string(data)), 10, 64)
		if perr != nil || n < 0 {
			return Legacy{}, false, fmt.Errorf("producer id file %s of an older release is corrupt: %q", pidName, data)
		}
		l.NextProducerID = n
	}
	return l, true, nil
}

// RetireLegacy renames dir's pre-quorum metadata files once their content is in the quorum.
func RetireLegacy(fs vfs.FS, dir string) error {
	for _, f := range []string{LegacyMetadataFile, LegacyProducerIDFile} {
		name := filepath.Join(dir, f)
		if err := fs.Rename(name, name+LegacyImportedSuffix); err != nil && !errors.Is(err, iofs.ErrNotExist) {
			return err
		}
	}
	return fs.SyncDir(dir)
}
