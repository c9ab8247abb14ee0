package postgres

import (
	"math/big"
	"strings"
	"testing"

	"github.com/logd/logd/connect"
)

func hasError(errs []connect.ConfigError, name, text string) bool {
	for _, e := range errs {
		if e.Name == name && strings.Contains(e.Message, text) {
			return true
		}
	}
	return false
}

func TestSourceConfigErrors(t *testing.T) {
	errs := (&SourceConnector{}).Validate(map[string]string{
		"database.port":               "99999",
		"plugin.name":                 "decoderbufs",
		"slot.name":                   "Bad-Slot",
		"snapshot.mode":               "sometimes",
		"publication.autocreate.mode": "some",
		"table.include.list":          "public\\.(a",
		"table.exclude.list":          "public.b",
		"heartbeat.interval.ms":       "-1",
		"tombstones.on.delete":        "yes",
		"decimal.handling.mode":       "float",
	})
	for _, want := range []struct{ name, text string }{
		{"database.hostname", "is required"}, {"database.user", "is required"}, {"database.dbname", "is required"},
		{"topic.prefix", "is required"}, {"database.port", "between 1 and 65535"}, {"plugin.name", "only pgoutput"},
		{"slot.name", "lower-case"}, {"snapshot.mode", "not one of"}, {"publication.autocreate.mode", "not one of"},
		{"table.include.list", "not a valid regular expression"}, {"table.exclude.list", "cannot both be set"},
		{"heartbeat.interval.ms", "integer"}, {"tombstones.on.delete", "true or false"}, {"decimal.handling.mode", "not one of"},
	} {
		if !hasError(errs, want.name, want.text) {
			t.Errorf("no error for %s containing %q in %v", want.name, want.text, errs)
		}
	}
	ok := map[string]string{"database.hostname": "h", "database.user": "u", "database.dbname": "d", "topic.prefix": "p",
		"table.include.list": "public\\.orders,inventory\\..*", "snapshot.mode": "never"}
	if errs := (&SourceConnector{}).Validate(ok); errs != nil {
		t.Fatalf("valid config: %v", errs)
	}
	c, _ := parseSourceConfig(ok)
	if c.snapshotMode != "no_data" {
		t.Errorf("never maps to %s", c.snapshotMode)
	}
	for id, want := range map[string]bool{"public.orders": true, "PUBLIC.ORDERS": true, "public.orders2": false, "inventory.x": true, "other.orders": false} {
		s, tb, _ := strings.Cut(id, ".")
		if got := c.captured(s, tb); got != want {
			t.Errorf("captured(%s) = %v, want %v", id, got, want)
		}
	}
}

func TestSinkConfigErrors(t *testing.T) {
	for _, tc := range []struct {
		cfg        map[string]string
		name, text string
	}{
		{map[string]string{}, "connection.url", "is required"},
		{map[string]string{"connection.url": "jdbc:mysql://h/db"}, "connection.url", "jdbc:postgresql://"},
		{map[string]string{"connection.url": "jdbc:postgresql://h:0/db", "connection.username": "u"}, "connection.url", "bad port"},
		{map[string]string{"connection.url": "jdbc:postgresql://h/"}, "connection.url", "host and a database"},
		{map[string]string{"connection.url": "jdbc:postgresql://h/db"}, "connection.url", "connection.username"},
		{map[string]string{"delete.enabled": "true", "primary.key.mode": "record_value", "primary.key.fields": "id"}, "delete.enabled", "record_key"},
		{map[string]string{"insert.mode": "upsert"}, "insert.mode", "needs a primary key"},
		{map[string]string{"primary.key.mode": "record_value"}, "primary.key.fields", "needs primary.key.fields"},
		{map[string]string{"insert.mode": "merge"}, "insert.mode", "not one of"},
		{map[string]string{"schema.evolution": "advanced"}, "schema.evolution", "not one of"},
		{map[string]string{"batch.size": "0"}, "batch.size", "between 1"},
	} {
		if errs := (&SinkConnector{}).Validate(tc.cfg); !hasError(errs, tc.name, tc.text) {
			t.Errorf("%v: no error for %s containing %q in %v", tc.cfg, tc.name, tc.text, errs)
		}
	}
	c, errs := parseSinkConfig(map[string]string{"connection.url": "jdbc:postgresql://db.example:6543/shop?user=x&password=y",
		"connection.username": "app", "insert.mode": "upsert", "primary.key.mode": "record_key", "delete.enabled": "true"})
	if errs != nil {
		t.Fatal(errs)
	}
	if !strings.HasPrefix(c.url, "postgres://app:y@db.example:6543/shop?") {
		t.Errorf("url %s", c.url)
	}
	if got := c.tableName(&connect.SinkRecord{Topic: "pg.public.orders"}); got != `"pg_public_orders"` {
		t.Errorf("table name %s", got)
	}
}

func TestDecimalRoundTrip(t *testing.T) {
	for _, s := range []string{"0", "1", "-1", "127", "128", "-128", "-129", "255", "-256", "123456789012345678901234567890", "-98765432109876543210"} {
		v, _ := new(big.Int).SetString(s, 10)
		if got := connect.DecimalUnscaled(connect.DecimalBytes(v)); got.Cmp(v) != 0 {
			t.Errorf("%s: round trip gave %s (bytes %x)", s, got, connect.DecimalBytes(v))
		}
	}
	if got := decimalText(big.NewInt(-5), 3); got != "-0.005" {
		t.Errorf("decimalText(-5, 3) = %s", got)
	}
	if got, _ := parseArray(`{"a,b",NULL,"NULL",c}`); len(got) != 4 || *got[0] != "a,b" || got[1] != nil || *got[2] != "NULL" || *got[3] != "c" {
		t.Errorf("parseArray: %v", got)
	}
}
