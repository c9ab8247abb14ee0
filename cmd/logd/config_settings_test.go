package main

import (
	"reflect"
	"testing"
)

// TestKeyInfoCoversEveryKey keeps keyInfos in step with configKeys: every key documented,
// none extra, and every default, parsed, leaves the embedded defaults as they are.
func TestKeyInfoCoversEveryKey(t *testing.T) {
	for _, k := range configKeys {
		info, ok := keyInfos[k.name]
		if !ok {
			t.Errorf("%s has no keyInfos entry", k.name)
			continue
		}
		if info.doc == "" || info.typ == 0 {
			t.Errorf("%s: no doc or type", k.name)
		}
		if info.def == "" {
			continue
		}
		want, got := defaultServeSettings(), defaultServeSettings()
		if err := k.apply(&got, info.def); err != nil {
			t.Errorf("%s: default %q does not parse: %v", k.name, info.def, err)
		} else if !reflect.DeepEqual(got, want) {
			t.Errorf("%s: default %q is not the embedded default", k.name, info.def)
		}
	}
	for name := range keyInfos {
		if keyIndex[name] == nil {
			t.Errorf("keyInfos has %s, which serve does not read", name)
		}
	}
}
