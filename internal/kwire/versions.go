package kwire

import (
	"context"
	"fmt"

	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kmsg"
)

// Versions is what a broker's ApiVersions answered: per API key, the [min, max] versions it
// speaks.
type Versions map[int16][2]int16

// Pick returns the highest version of key both sides speak within [lo, hi], or -1.
func (v Versions) Pick(key kmsg.Key, lo, hi int16) int16 {
	r, ok := v[int16(key)]
	if !ok {
		return -1
	}
	if p := min(hi, r[1]); p >= max(lo, r[0]) {
		return p
	}
	return -1
}

// ApiVersions asks the broker which versions it speaks: ApiVersions v3, and v0 when the
// broker answers that it does not speak v3 (Kafka's fallback).
func (c *Conn) ApiVersions(ctx context.Context, softwareName, softwareVersion string) (Versions, error) {
	req := kmsg.NewPtrApiVersionsRequest()
	req.SetVersion(3)
	req.ClientSoftwareName, req.ClientSoftwareVersion = softwareName, softwareVersion
	resp, err := c.Request(ctx, req)
	if err != nil {
		return nil, err
	}
	av := resp.(*kmsg.ApiVersionsResponse)
	if av.ErrorCode == kerr.UnsupportedVersion.Code {
		req.SetVersion(0)
		if resp, err = c.Request(ctx, req); err != nil {
			return nil, err
		}
		av = resp.(*kmsg.ApiVersionsResponse)
	}
	if e := kerr.ErrorForCode(av.ErrorCode); e != nil {
		return nil, fmt.Errorf("ApiVersions: %w", e)
	}
	v := make(Versions, len(av.ApiKeys))
	for _, k := range av.ApiKeys {
		v[k.ApiKey] = [2]int16{k.MinVersion, k.MaxVersion}
	}
	return v, nil
}
