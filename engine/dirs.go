package engine

import (
	"crypto/rand"
	"encoding/base64"
	"errors"
	"fmt"
	"io/fs"
	"log/slog"
	"path/filepath"
	"sort"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/logd/logd/internal/properties"
	"github.com/logd/logd/internal/vfs"
)

// metaPropertiesFile is Kafka's per-directory identity file (KIP-858 adds directory.id).
const metaPropertiesFile = "meta.properties"

// DirID is a log directory's id (KIP-858), a Kafka Uuid: 16 random bytes, written to the
// directory's meta.properties as directory.id in URL-safe base64 without padding.
type DirID [16]byte

// String renders the id as Kafka does (Uuid.toString).
func (id DirID) String() string { return base64.RawURLEncoding.EncodeToString(id[:]) }

// parseDirID parses directory.id's value.
func parseDirID(s string) (DirID, error) {
	var id DirID
	b, err := base64.RawURLEncoding.DecodeString(s)
	if err != nil || len(b) != len(id) {
		return id, fmt.Errorf("directory.id %q is not a 22-character base64 Kafka Uuid", s)
	}
	copy(id[:], b)
	if id.reserved() {
		return id, fmt.Errorf("directory.id %q is one of Kafka's reserved directory ids", s)
	}
	return id, nil
}

// reserved reports whether id is one Kafka reserves (DirectoryId: the first 100 Uuids, among
// them UNASSIGNED, LOST and MIGRATING), which a real directory never has.
func (id DirID) reserved() bool {
	for _, b := range id[:15] {
		if b != 0 {
			return false
		}
	}
	return id[15] < 100
}

// newDirID draws a random, unreserved directory id (Kafka's DirectoryId.random).
func newDirID() DirID {
	for {
		var id DirID
		rand.Read(id[:])
		if !id.reserved() {
			return id
		}
	}
}

// LogDirsConfig configures a broker's log directories.
type LogDirsConfig struct {
	// Dirs are the log directories (Kafka's log.dirs), at least one, all different.
	Dirs []string
	// NodeID is written to each directory's meta.properties, and a directory whose
	// meta.properties names another node is refused. Negative: neither.
	NodeID int32
	// Engine is every directory's Engine configuration; its Dir is replaced by each entry.
	Engine Config
	// MoveBytesPerSecond caps the copying of partitions moving to another directory, all
	// moves together (Kafka's replica.alter.log.dirs.io.max.bytes.per.second); 0 is no cap.
	// The last catch-up under the partition's lock is never throttled.
	MoveBytesPerSecond float64
	// WatchInterval is how often each directory is checked to still be there (one that
	// vanished goes offline); zero picks 5 s, negative disables the check.
	WatchInterval time.Duration
}

// LogDir is one log directory: its path, its id and the Engine that holds its partitions.
type LogDir struct {
	// Path is the directory as configured.
	Path string
	// ID is its directory.id (meta.properties).
	ID DirID
	// Engine holds the directory's partitions.
	Engine *Engine
}

// LogDirs is a broker's log directories (Kafka's log.dirs, JBOD): one Engine per directory
// and the directory of every partition. A new partition goes to the online directory holding
// the fewest partitions; partitions found on disk stay where they are. A directory that fails
// (an fsync, write or read error, or the directory vanishing) goes offline alone: its
// partitions answer ErrLogDirOffline, the others keep serving.
type LogDirs struct {
	cfg  LogDirsConfig
	dirs []*LogDir
	log  *slog.Logger

	// openMu serializes opening logs, so placement counts every partition placed before.
	// Taken before mu.
	openMu sync.Mutex
	mu     sync.Mutex                 // guards where, moves and preferred
	where  map[TopicPartition]*LogDir // every partition's directory
	// moves are the moves to another directory in progress (move.go), their copies
	// throttled together by moveThrottle.
	moves        map[TopicPartition]*move
	moveThrottle *throttler
	// preferred is where AlterReplicaLogDirs asked a partition not created yet to go.
	preferred map[TopicPartition]*LogDir
	// failedAtStart is set when a directory could not be opened: what it holds is unknown,
	// so a partition found in no directory is not created (it may be in that one; Kafka
	// refuses to create a log that is not new while a directory is offline).
	failedAtStart bool
	// afterMoveStep, if set (tests), is called after each step of a move (move.go), with
	// the partition's locks held from moveFutureSynced to moveFutureRenamed.
	afterMoveStep func(moveStep)

	stop chan struct{}
	done chan struct{}
}

// OpenLogDirs opens every log directory: it reads or writes each one's meta.properties and
// opens its Engine, and refuses to start when two directories are the same (same path or
// same directory.id) or hold the same partition.
func OpenLogDirs(cfg LogDirsConfig) (*LogDirs, error) {
	if len(cfg.Dirs) == 0 {
		return nil, errors.New("log.dirs names no directory")
	}
	cfg.Engine.setDefaults()
	if cfg.WatchInterval == 0 {
		cfg.WatchInterval = 5 * time.Second
	}
	d := &LogDirs{cfg: cfg, log: cfg.Engine.Logger, where: map[TopicPartition]*LogDir{},
		moves: map[TopicPartition]*move{}, preferred: map[TopicPartition]*LogDir{},
		moveThrottle: newThrottler(cfg.MoveBytesPerSecond), stop: make(chan struct{}), done: make(chan struct{})}
	if err := recoverMoves(cfg.Engine.FS, cfg.Dirs); err != nil {
		return nil, err
	}
	seen := map[string]string{}
	ids := map[DirID]string{}
	for _, path := range cfg.Dirs {
		key := filepath.Clean(path)
		if abs, err := filepath.Abs(path); err == nil {
			key = abs
		}
		if prev, dup := seen[key]; dup {
			d.closeEngines()
			return nil, fmt.Errorf("log.dirs lists the directory %s twice (as %s and %s)", key, prev, path)
		}
		seen[key] = path
		ecfg := cfg.Engine
		ecfg.Dir = path
		eng, err := Open(ecfg)
		if err != nil {
			// An I/O error: the directory starts offline, the others serve (Kafka's
			// LogManager does the same with a directory it cannot create or lock).
			d.dirs = append(d.dirs, &LogDir{Path: path, Engine: openFailed(ecfg, err)})
			d.failedAtStart = true
			continue
		}
		ld := &LogDir{Path: path, Engine: eng}
		d.dirs = append(d.dirs, ld)
		if ld.ID, err = ensureMetaProperties(cfg.Engine.FS, path, cfg.NodeID); err != nil {
			var ioErr *metaIOError
			if errors.As(err, &ioErr) {
				eng.Close()
				ld.Engine = openFailed(ecfg, err)
				d.failedAtStart = true
				continue
			}
			d.closeEngines()
			return nil, err
		}
		if prev, dup := ids[ld.ID]; dup {
			d.closeEngines()
			return nil, fmt.Errorf("log directories %s and %s have the same directory.id %s in %s (one was copied from the other?): give one a new id by removing its directory.id line",
				prev, path, ld.ID, metaPropertiesFile)
		}
		ids[ld.ID] = path
		for _, tp := range eng.Partitions() {
			if other := d.where[tp]; other != nil {
				d.closeEngines()
				return nil, fmt.Errorf("partition %s is in two log directories, %s and %s: remove the stale copy",
					tp, filepath.Join(other.Path, tp.dirName()), filepath.Join(path, tp.dirName()))
			}
			d.where[tp] = ld
		}
	}
	if err := d.Offline(); err != nil {
		d.closeEngines()
		return nil, fmt.Errorf("every log directory failed: %w", err)
	}
	if cfg.WatchInterval > 0 {
		go d.watch()
	} else {
		close(d.done)
	}
	return d, nil
}

// ensureMetaProperties returns dir's directory.id, writing meta.properties (Kafka's v1 keys:
// version, node.id, directory.id; cluster.id follows once the node knows it, SetClusterID)
// when it is missing or has no id yet. Other keys in an existing file are kept.
func ensureMetaProperties(fsys vfs.FS, dir string, nodeID int32) (DirID, error) {
	m, err := readMetaProperties(fsys, dir)
	if err != nil {
		return DirID{}, err
	}
	path := filepath.Join(dir, metaPropertiesFile)
	if v, ok := m.keys["node.id"]; ok && nodeID >= 0 && v != strconv.Itoa(int(nodeID)) {
		return DirID{}, fmt.Errorf("%s belongs to node.id %s, this broker is node.id %d: wrong log.dirs entry?", path, v, nodeID)
	}
	if v, ok := m.keys["directory.id"]; ok {
		id, err := parseDirID(v)
		if err != nil {
			return DirID{}, fmt.Errorf("%s: %w", path, err)
		}
		return id, nil
	}
	id := newDirID()
	if nodeID >= 0 {
		m.set("node.id", strconv.Itoa(int(nodeID)))
	}
	m.set("directory.id", id.String())
	if _, ok := m.keys["version"]; !ok {
		m.set("version", "1")
	}
	return id, m.write(fsys, dir)
}

// metaProperties is a parsed meta.properties: its keys and their order in the file.
type metaProperties struct {
	keys  map[string]string
	order []string
}

// readMetaProperties reads dir's meta.properties (none: no keys).
func readMetaProperties(fsys vfs.FS, dir string) (*metaProperties, error) {
	path := filepath.Join(dir, metaPropertiesFile)
	data, err := vfs.ReadFile(fsys, path)
	if err != nil && !errors.Is(err, fs.ErrNotExist) {
		return nil, &metaIOError{fmt.Errorf("log directory %s: %w", dir, err)}
	}
	entries, err := properties.Parse(data)
	if err != nil {
		return nil, fmt.Errorf("%s: %w", path, err)
	}
	m := &metaProperties{keys: map[string]string{}}
	for _, e := range entries {
		m.set(e.Key, e.Value)
	}
	return m, nil
}

// set sets key k, appending it if new.
func (m *metaProperties) set(k, v string) {
	if _, ok := m.keys[k]; !ok {
		m.order = append(m.order, k)
	}
	m.keys[k] = v
}

// write replaces dir's meta.properties atomically (temporary file, fsync, rename, fsync of
// the directory), in java.util.Properties.store's layout.
func (m *metaProperties) write(fsys vfs.FS, dir string) error {
	var b strings.Builder
	// java.util.Properties.store's header: the (empty) comment, then the date.
	fmt.Fprintf(&b, "#\n#%s\n", time.Now().UTC().Format("Mon Jan 02 15:04:05 MST 2006"))
	for _, k := range m.order {
		fmt.Fprintf(&b, "%s=%s\n", k, m.keys[k])
	}
	if err := vfs.WriteFileAtomic(fsys, dir, filepath.Join(dir, metaPropertiesFile), []byte(b.String())); err != nil {
		return &metaIOError{fmt.Errorf("log directory %s: write %s: %w", dir, metaPropertiesFile, err)}
	}
	return nil
}

// SetClusterID writes cluster.id to the meta.properties of every online directory that has
// none yet (Kafka's kafka-storage format writes it before the first start; logd's cluster
// gets its id from its first controller, so a node learns it only once it has joined).
// Kafka's tools, such as kafka-metadata-quorum add-controller, refuse a meta.properties
// without it. A directory whose meta.properties names another cluster holds another
// cluster's data: it is taken offline, as is one whose file cannot be written. The error
// says which directories failed, nil when none did.
func (d *LogDirs) SetClusterID(id string) error {
	var errs []error
	for _, ld := range d.dirs {
		if ld.Engine.Offline() != nil {
			continue
		}
		m, err := readMetaProperties(d.cfg.Engine.FS, ld.Path)
		if err == nil {
			switch have, ok := m.keys["cluster.id"]; {
			case ok && have == id:
				continue
			case ok:
				err = fmt.Errorf("log directory %s: %s has cluster.id %s, but this node is in cluster %s: it holds another cluster's data",
					ld.Path, metaPropertiesFile, have, id)
			default:
				m.set("cluster.id", id)
				err = m.write(d.cfg.Engine.FS, ld.Path)
			}
		}
		if err != nil {
			ld.Engine.gc.Fail(err) // as a failed fsync: the directory is offline from now
			errs = append(errs, err)
		}
	}
	return errors.Join(errs...)
}

// metaIOError is an I/O error reading or writing meta.properties: the directory starts
// offline, unlike a meta.properties that names the wrong node (a configuration error).
type metaIOError struct{ err error }

func (e *metaIOError) Error() string { return e.err.Error() }
func (e *metaIOError) Unwrap() error { return e.err }

// closeEngines closes the engines opened so far (OpenLogDirs failing half-way).
func (d *LogDirs) closeEngines() {
	for _, ld := range d.dirs {
		ld.Engine.Close()
	}
}

// watch takes offline every directory that vanished (removed, or its file system unmounted),
// checking every WatchInterval until Close: Kafka's LogDirFailureChannel reacts to the I/O
// error the next access gets, which may be long in coming for an idle directory.
func (d *LogDirs) watch() {
	defer close(d.done)
	t := time.NewTicker(d.cfg.WatchInterval)
	defer t.Stop()
	for {
		select {
		case <-d.stop:
			return
		case <-t.C:
		}
		for _, ld := range d.dirs {
			if ld.Engine.Offline() != nil {
				continue
			}
			if err := d.checkDir(ld); err != nil {
				// Through the committer, as a failed fsync: appends and syncs fail from now.
				ld.Engine.gc.Fail(err)
			}
		}
	}
}

// checkDir reports why ld is unusable: it or its meta.properties is gone.
func (d *LogDirs) checkDir(ld *LogDir) error {
	fi, err := d.cfg.Engine.FS.Stat(ld.Path)
	if err == nil && !fi.IsDir() {
		err = errors.New("not a directory")
	}
	if err == nil {
		_, err = d.cfg.Engine.FS.Stat(filepath.Join(ld.Path, metaPropertiesFile))
	}
	if err != nil {
		return fmt.Errorf("log directory %s vanished: %w", ld.Path, err)
	}
	return nil
}

// Dirs returns the log directories in log.dirs order.
func (d *LogDirs) Dirs() []*LogDir { return d.dirs }

// DirOf returns the directory holding a partition, or nil when no directory does.
func (d *LogDirs) DirOf(tp TopicPartition) *LogDir {
	d.mu.Lock()
	defer d.mu.Unlock()
	return d.where[tp]
}

// Log returns an opened log, or nil.
func (d *LogDirs) Log(tp TopicPartition) *Log {
	if ld := d.DirOf(tp); ld != nil {
		return ld.Engine.Log(tp)
	}
	return nil
}

// Partitions lists every partition in every directory, opened or not, sorted.
func (d *LogDirs) Partitions() []TopicPartition {
	d.mu.Lock()
	tps := make([]TopicPartition, 0, len(d.where))
	for tp := range d.where {
		tps = append(tps, tp)
	}
	d.mu.Unlock()
	sortPartitions(tps)
	return tps
}

// sortPartitions sorts by topic, then partition.
func sortPartitions(tps []TopicPartition) {
	sort.Slice(tps, func(i, j int) bool {
		if tps[i].Topic != tps[j].Topic {
			return tps[i].Topic < tps[j].Topic
		}
		return tps[i].Partition < tps[j].Partition
	})
}

// OpenLogWith is Engine.OpenLogWith in the directory holding the partition or, for a new
// one with opts.Create, in the online directory holding the fewest partitions (the first
// listed on a tie). A partition in an offline directory fails with ErrLogDirOffline, as does
// a new one when every directory is offline.
func (d *LogDirs) OpenLogWith(tp TopicPartition, cfg LogConfig, opts OpenOptions) (*Log, error) {
	if ld := d.DirOf(tp); ld != nil {
		if l := ld.Engine.Log(tp); l != nil && l.replicated == opts.Replicated {
			return l, nil // the common case, without openMu
		}
	}
	d.openMu.Lock()
	defer d.openMu.Unlock()
	ld := d.DirOf(tp)
	if ld == nil {
		if !opts.Create {
			return nil, fmt.Errorf("%s: %w", tp, ErrUnknownPartition)
		}
		if d.failedAtStart {
			return nil, fmt.Errorf("%s: %w: not found in the online log directories, and a directory that failed at start may hold it", tp, ErrLogDirOffline)
		}
		if ld = d.placement(tp); ld == nil {
			return nil, fmt.Errorf("%s: %w: every log directory is offline", tp, ErrLogDirOffline)
		}
	}
	l, err := ld.Engine.OpenLogWith(tp, cfg, opts)
	if err != nil {
		return nil, err
	}
	d.mu.Lock()
	d.where[tp] = ld
	d.mu.Unlock()
	return l, nil
}

// placement picks the directory AlterReplicaLogDirs asked for if it is online, else the
// online directory with the fewest partitions, or nil.
func (d *LogDirs) placement(tp TopicPartition) *LogDir {
	d.mu.Lock()
	if ld := d.preferred[tp]; ld != nil {
		delete(d.preferred, tp)
		if ld.Engine.Offline() == nil {
			d.mu.Unlock()
			return ld
		}
	}
	count := make(map[*LogDir]int, len(d.dirs))
	for _, ld := range d.where {
		count[ld]++
	}
	d.mu.Unlock()
	var best *LogDir
	for _, ld := range d.dirs {
		if ld.Engine.Offline() != nil {
			continue
		}
		if best == nil || count[ld] < count[best] {
			best = ld
		}
	}
	return best
}

// DeleteLog removes a partition's log from its directory (Engine.DeleteLog).
func (d *LogDirs) DeleteLog(tp TopicPartition) error {
	d.cancelMove(tp)
	d.openMu.Lock()
	defer d.openMu.Unlock()
	ld := d.DirOf(tp)
	if ld == nil {
		return fmt.Errorf("%s: %w", tp, ErrUnknownPartition)
	}
	d.mu.Lock()
	delete(d.where, tp)
	d.mu.Unlock()
	return ld.Engine.DeleteLog(tp)
}

// Clean compacts a partition's log once (Engine.Clean in its directory).
func (d *LogDirs) Clean(tp TopicPartition) (CleanStats, error) {
	ld := d.DirOf(tp)
	if ld == nil {
		return CleanStats{}, fmt.Errorf("%s: %w", tp, ErrUnknownPartition)
	}
	return ld.Engine.Clean(tp)
}

// OfflineCount is the number of offline directories (Kafka's OfflineLogDirectoryCount).
func (d *LogDirs) OfflineCount() int {
	n := 0
	for _, ld := range d.dirs {
		if ld.Engine.Offline() != nil {
			n++
		}
	}
	return n
}

// Offline returns an error when every directory is offline (the broker can store nothing),
// else nil.
func (d *LogDirs) Offline() error {
	var errs []error
	for _, ld := range d.dirs {
		err := ld.Engine.Offline()
		if err == nil {
			return nil
		}
		errs = append(errs, err)
	}
	return errors.Join(errs...)
}

// Close closes every directory (Engine.Close) and returns the first error of a directory
// that was online. An offline directory was reported when it failed; it closes without its
// clean-shutdown marker, so the next start recovers it.
func (d *LogDirs) Close() error {
	select {
	case <-d.stop:
	default:
		close(d.stop)
	}
	<-d.done
	d.stopMoves()
	var first error
	for _, ld := range d.dirs {
		wasOffline := ld.Engine.Offline() != nil
		if err := ld.Engine.Close(); err != nil && !wasOffline && first == nil {
			first = fmt.Errorf("log directory %s: %w", ld.Path, err)
		}
	}
	return first
}
