package indexer

import (
	"net"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/maxmind/mmdbwriter"
	"github.com/maxmind/mmdbwriter/mmdbtype"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/vpcalertd/vpcalertd/output/indexer/indexertest"
)

// writeTestMMDB writes a tiny GeoIP2-City database: 198.51.100.0/24 in
// Testville, Ohio, United States; 203.0.113.0/24 with a country only.
func writeTestMMDB(t *testing.T) string {
	w, err := mmdbwriter.New(mmdbwriter.Options{DatabaseType: "GeoIP2-City", RecordSize: 24, IncludeReservedNetworks: true})
	require.NoError(t, err)
	names := func(en string) mmdbtype.Map {
		return mmdbtype.Map{"names": mmdbtype.Map{"en": mmdbtype.String(en), "de": mmdbtype.String("x")}}
	}
	_, city, _ := net.ParseCIDR("198.51.100.0/24")
	require.NoError(t, w.Insert(city, mmdbtype.Map{
		"city":         names("Testville"),
		"country":      names("United States"),
		"subdivisions": mmdbtype.Slice{names("Ohio"), names("Franklin")},
		"location":     mmdbtype.Map{"latitude": mmdbtype.Float64(39.96), "longitude": mmdbtype.Float64(-83)},
	}))
	_, country, _ := net.ParseCIDR("203.0.113.0/24")
	require.NoError(t, w.Insert(country, mmdbtype.Map{"country": names("Elbonia")}))
	path := filepath.Join(t.TempDir(), "GeoLite2-City.mmdb")
	f, err := os.Create(path)
	require.NoError(t, err)
	_, err = w.WriteTo(f)
	require.NoError(t, err)
	require.NoError(t, f.Close())
	return path
}

func TestGeoIP(t *testing.T) {
	db := writeTestMMDB(t)
	srv := newServer(t, indexertest.Options{})
	cfg := fastConfig(srv.URL)
	cfg.GeoIP.Database = db
	s, _ := newSink(t, cfg)

	base := readAlerts(t, constructedFiles[2])[0] // sourceIPAddress 198.51.100.23
	withIP := func(line int, ip string) *struct{ id string } {
		a := *base
		a.Origin.Line = line
		a.JSON = []byte(strings.Replace(string(base.JSON), `"sourceIPAddress":"198.51.100.23"`, `"sourceIPAddress":"`+ip+`"`, 1))
		require.NoError(t, s.Write(&a))
		return &struct{ id string }{docID(&a)}
	}
	cases := []struct {
		ip   string
		want string // GeoLocation JSON, "" for none
	}{
		{"198.51.100.23", `{"city_name":"Testville","country_name":"United States","region_name":"Franklin","location":{"lat":39.96,"lon":-83}}`},
		{"203.0.113.9", `{"country_name":"Elbonia"}`},
		{"10.0.0.1", ""},          // private: not in the database
		{"ec2.amazonaws.com", ""}, // a service, not an address
		{"2001:db8::1", ""},
	}
	ids := make([]string, len(cases))
	for i, tc := range cases {
		ids[i] = withIP(100+i, tc.ip).id
	}
	require.NoError(t, s.Sync())
	for i, tc := range cases {
		doc, ok := srv.Doc("wazuh-alerts-4.x-2024.03.05", ids[i])
		require.True(t, ok, tc.ip)
		d := mustJSON(t, doc).(map[string]any)
		if tc.want == "" {
			assert.NotContains(t, d, "GeoLocation", tc.ip)
			continue
		}
		assert.Equal(t, mustJSON(t, []byte(tc.want)), d["GeoLocation"], tc.ip)
	}
	assert.Equal(t, "geo_point", srv.FieldType("wazuh-alerts-4.x-2024.03.05", "GeoLocation.location"))

	_, err := New(Config{URL: srv.URL, GeoIP: GeoIPConfig{Database: filepath.Join(t.TempDir(), "missing.mmdb")}}, nil)
	require.Error(t, err)
	assert.Contains(t, err.Error(), "geoip.database")
}
