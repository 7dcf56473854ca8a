package indexer

import (
	"fmt"
	"net/netip"
	"strconv"

	"github.com/oschwald/maxminddb-golang/v2"

	"github.com/vpcalertd/vpcalertd/ojson"
)

// geoFields are the fields Wazuh's pipeline runs its geoip processors on,
// in its order; each one that resolves replaces the previous result
// (filebeat-wazuh-alerts-ingest-pipeline.v4.14.7.json;
// docs/wazuh-compat.md, "The indexer"). VPC srcaddr/dstaddr are not among them.
var geoFields = [][]string{
	{"data", "srcip"},
	{"data", "win", "eventdata", "ipAddress"},
	{"data", "aws", "sourceIPAddress"},
	{"data", "aws", "client_ip"},
	{"data", "aws", "service", "action", "networkConnectionAction", "remoteIpDetails", "ipAddressV4"},
	{"data", "aws", "httpRequest", "clientIp"},
	{"data", "ms-graph", "ipAddress"},
	{"data", "ms-graph", "actor", "ipAddress"},
	{"data", "gcp", "jsonPayload", "sourceIP"},
	{"data", "office365", "ClientIP"},
}

// geoDB looks addresses up in a MaxMind City or Country database.
type geoDB struct {
	r *maxminddb.Reader
}

func openGeoDB(path string) (*geoDB, error) {
	r, err := maxminddb.Open(path)
	if err != nil {
		return nil, fmt.Errorf("geoip.database %s: %w", path, err)
	}
	return &geoDB{r: r}, nil
}

func (g *geoDB) Close() error { return g.r.Close() }

// geoRecord is the part of a GeoIP2/GeoLite2 City record the pipeline's
// properties (city_name, country_name, region_name, location) use.
type geoRecord struct {
	City struct {
		Names struct {
			EN string `maxminddb:"en"`
		} `maxminddb:"names"`
	} `maxminddb:"city"`
	Country struct {
		Names struct {
			EN string `maxminddb:"en"`
		} `maxminddb:"names"`
	} `maxminddb:"country"`
	Subdivisions []struct {
		Names struct {
			EN string `maxminddb:"en"`
		} `maxminddb:"names"`
	} `maxminddb:"subdivisions"`
	Location struct {
		Latitude  *float64 `maxminddb:"latitude"`
		Longitude *float64 `maxminddb:"longitude"`
	} `maxminddb:"location"`
}

// appendGeo appends the GeoLocation object the geoip processor would set
// for ip ({"city_name","country_name","region_name","location":{lat,lon}},
// each only when the database has it) and reports whether it found
// anything. An address that is not an IP (the processor fails and ignores
// the failure) or not in the database (private ranges) gives nothing.
func (g *geoDB) appendGeo(dst []byte, ip []byte) ([]byte, bool) {
	addr, err := netip.ParseAddr(string(ip))
	if err != nil || addr.Zone() != "" {
		return dst, false
	}
	var rec geoRecord
	res := g.r.Lookup(addr.Unmap())
	if !res.Found() || res.Decode(&rec) != nil {
		return dst, false
	}
	start := len(dst)
	dst = append(dst, '{')
	field := func(name string, value string) {
		if value == "" {
			return
		}
		if len(dst) > start+1 {
			dst = append(dst, ',')
		}
		dst = ojson.AppendQuoted(append(ojson.AppendQuoted(dst, name), ':'), value)
	}
	field("city_name", rec.City.Names.EN)
	field("country_name", rec.Country.Names.EN)
	// The processor takes the most specific subdivision: the last one.
	if n := len(rec.Subdivisions); n > 0 {
		field("region_name", rec.Subdivisions[n-1].Names.EN)
	}
	if lat, lon := rec.Location.Latitude, rec.Location.Longitude; lat != nil && lon != nil {
		if len(dst) > start+1 {
			dst = append(dst, ',')
		}
		dst = append(dst, `"location":{"lat":`...)
		dst = strconv.AppendFloat(dst, *lat, 'g', -1, 64)
		dst = append(dst, `,"lon":`...)
		dst = strconv.AppendFloat(dst, *lon, 'g', -1, 64)
		dst = append(dst, '}')
	}
	if len(dst) == start+1 {
		return dst[:start], false
	}
	return append(dst, '}'), true
}
