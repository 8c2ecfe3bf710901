package bigtable

import (
	"fmt"
	"net/url"
	"regexp"
	"strings"
	"time"
)

// Scheme is the URI scheme of Bigtable tables.
const Scheme = "bigtable"

// Location names a Bigtable table and the options its URI carries.
type Location struct {
	Project, Instance, Table string
	// AppProfile routes the requests (URI parameter app_profile), e.g. to
	// a cluster set aside for batch reads. Empty uses the instance's
	// default profile.
	AppProfile string
	// ReadTimeout bounds each read (URI parameter read_timeout, e.g.
	// 500ms); zero leaves it to Options.
	ReadTimeout time.Duration
}

// String returns the table's URI without its parameters: the name the
// manifest records.
func (l Location) String() string {
	return Scheme + "://" + l.Project + "/" + l.Instance + "/" + l.Table
}

// Bigtable's own naming rules, checked here so that a typo is reported
// before any request, with the URI.
var (
	instanceRE = regexp.MustCompile(`^[a-z][-a-z0-9]*$`)
	nameRE     = regexp.MustCompile(`^[_a-zA-Z0-9][-_.a-zA-Z0-9]*$`) // tables and families
)

// ParseURI parses bigtable://PROJECT/INSTANCE/TABLE[?app_profile=P&read_timeout=D].
// An unknown parameter is an error rather than ignored: a misspelt option
// must not silently change nothing.
func ParseURI(uri string) (Location, error) {
	bad := func(format string, args ...any) (Location, error) {
		return Location{}, fmt.Errorf("%s: %s (want %s://PROJECT/INSTANCE/TABLE)", uri, fmt.Sprintf(format, args...), Scheme)
	}
	rest, ok := strings.CutPrefix(uri, Scheme+"://")
	if !ok {
		return bad("not a %s:// URI", Scheme)
	}
	// Not url.Parse: a domain-scoped project ("example.com:proj") is no
	// host:port.
	path, query, _ := strings.Cut(rest, "?")
	parts := strings.Split(path, "/")
	if len(parts) != 3 || parts[0] == "" || parts[1] == "" || parts[2] == "" {
		return bad("want three parts")
	}
	l := Location{Project: parts[0], Instance: parts[1], Table: parts[2]}
	if !instanceRE.MatchString(l.Instance) {
		return bad("instance %q: lowercase letters, digits and '-', starting with a letter", l.Instance)
	}
	if !nameRE.MatchString(l.Table) {
		return bad("table %q: letters, digits, '-', '_' and '.', not starting with '-' or '.'", l.Table)
	}
	q, err := url.ParseQuery(query)
	if err != nil {
		return bad("parameters: %v", err)
	}
	for k, vs := range q {
		v := vs[len(vs)-1]
		switch k {
		case "app_profile":
			l.AppProfile = v
		case "read_timeout":
			d, err := time.ParseDuration(v)
			if err != nil || d <= 0 {
				return bad("read_timeout %q: want a positive duration such as 2s", v)
			}
			l.ReadTimeout = d
		default:
			return bad("unknown parameter %q (known: app_profile, read_timeout)", k)
		}
	}
	return l, nil
}

func checkFamily(family string) error {
	if !nameRE.MatchString(family) {
		return fmt.Errorf("column family %q: letters, digits, '-', '_' and '.', not starting with '-' or '.'", family)
	}
	return nil
}
