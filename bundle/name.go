package bundle

import (
	"fmt"
	"regexp"
	"strings"
)

// Name is an image name in its one canonical form: the form the policy
// judges, the report shows and import maps to a target. It is built only by
// ParseName, which applies the distribution reference grammar
// (github.com/distribution/reference, reference.go) and these rules:
//
//   - a name whose first component has no ".", no ":" and is not
//     "localhost" is on Docker Hub (a first component with uppercase
//     letters, which distribution reads as a host, is refused as ambiguous): "nginx" is "docker.io/library/nginx",
//     "vendor/app" is "docker.io/vendor/app";
//   - the registry host is lowercased; Docker Hub's aliases
//     ("index.docker.io", "registry-1.docker.io") are "docker.io";
//   - ":443", the HTTPS default port, is dropped (registry.example:443 is
//     registry.example) unless the host alone has no "." and is not
//     localhost; every other port is kept as written, so
//     registry.example:5000 and registry.example are different registries;
//   - path components must match [a-z0-9]+((\.|_|__|-+)[a-z0-9]+)*:
//     uppercase, empty components ("a//b"), dot segments ("..", "."), a
//     trailing "/" and anything else the grammar refuses are refused, never
//     repaired;
//   - a tag matches [A-Za-z0-9_][A-Za-z0-9_.-]{0,127}; a digest is sha256
//     with 64 lowercase hex digits.
//
// Name is a value; its zero value is not a valid name.
type Name struct {
	// Host is the registry host, with its port when not the default.
	Host string
	// Path is the repository path below the host ("library/nginx").
	Path string
	// Tag, possibly empty.
	Tag string
	// Digest ("sha256:..."), possibly empty.
	Digest string
}

// DockerHub is the canonical host of Docker Hub.
const DockerHub = "docker.io"

// MaxNameLength caps a repository name (host and path), as distribution does.
const MaxNameLength = 255

var (
	pathComponentRE = regexp.MustCompile(`^[a-z0-9]+(?:(?:[._]|__|-+)[a-z0-9]+)*$`)
	hostComponentRE = regexp.MustCompile(`^(?:[a-zA-Z0-9]|[a-zA-Z0-9][a-zA-Z0-9-]*[a-zA-Z0-9])$`)
	portRE          = regexp.MustCompile(`^[0-9]{1,5}$`)
	ipv6RE          = regexp.MustCompile(`^\[[a-fA-F0-9:]+\]$`)
	tagRE           = regexp.MustCompile(`^[A-Za-z0-9_][A-Za-z0-9_.-]{0,127}$`)
)

// ParseName parses and canonicalises an image name
// ("host[:port]/path[:tag][@digest]", host optional). Errors wrap
// ErrInvalidName and say which part is wrong.
func ParseName(s string) (Name, error) {
	bad := func(format string, a ...any) (Name, error) {
		return Name{}, fmt.Errorf("%w %q: %s", ErrInvalidName, s, fmt.Sprintf(format, a...))
	}
	if s == "" {
		return bad("empty")
	}
	if strings.ContainsAny(s, " \t\r\n\x00\\?#") {
		return bad("contains a character no reference may hold")
	}
	var n Name
	rest := s
	if i := strings.Index(rest, "@"); i >= 0 {
		n.Digest = rest[i+1:]
		rest = rest[:i]
		if err := checkDigest(n.Digest); err != nil {
			return bad("digest: %v", err)
		}
	}
	if slash, colon := strings.LastIndex(rest, "/"), strings.LastIndex(rest, ":"); colon > slash {
		n.Tag = rest[colon+1:]
		rest = rest[:colon]
		if !tagRE.MatchString(n.Tag) {
			return bad("tag %q does not match [A-Za-z0-9_][A-Za-z0-9_.-]{0,127}", n.Tag)
		}
	}
	if rest == "" {
		return bad("no repository")
	}
	first, path, hasSlash := strings.Cut(rest, "/")
	if hasSlash && !strings.ContainsAny(first, ".:[") && first != strings.ToLower(first) {
		// distribution reads an uppercase first component as a host, but
		// lowercased it would name a Docker Hub path: ambiguous, refused.
		return bad("first component %q has uppercase letters but no '.' or ':': neither a registry host nor a repository path", first)
	}
	if hasSlash && (strings.ContainsAny(first, ".:") || strings.EqualFold(first, "localhost")) {
		host, err := canonicalHost(first)
		if err != nil {
			return bad("%v", err)
		}
		n.Host, n.Path = host, path
	} else {
		n.Host, n.Path = DockerHub, rest
	}
	if n.Host == DockerHub && !strings.Contains(n.Path, "/") {
		n.Path = "library/" + n.Path
	}
	for i, c := range strings.Split(n.Path, "/") {
		switch {
		case c == "":
			return bad("path component %d is empty (leading, trailing or doubled '/')", i+1)
		case c == "." || c == "..":
			return bad("path component %d is the dot segment %q", i+1, c)
		case !pathComponentRE.MatchString(c):
			return bad("path component %q does not match [a-z0-9]+((.|_|__|-+)[a-z0-9]+)*", c)
		}
	}
	if l := len(n.Host) + 1 + len(n.Path); l > MaxNameLength {
		return bad("repository name is %d characters, limit %d", l, MaxNameLength)
	}
	return n, nil
}

// canonicalHost checks a registry host[:port] and returns its canonical form.
func canonicalHost(h string) (string, error) {
	host, port := h, ""
	if strings.HasPrefix(h, "[") {
		end := strings.Index(h, "]")
		if end < 0 {
			return "", fmt.Errorf("host %q: unclosed '['", h)
		}
		host, port = h[:end+1], strings.TrimPrefix(h[end+1:], ":")
		if h[end+1:] != "" && !strings.HasPrefix(h[end+1:], ":") {
			return "", fmt.Errorf("host %q: junk after ']'", h)
		}
		if !ipv6RE.MatchString(host) {
			return "", fmt.Errorf("host %q is not an IPv6 address", h)
		}
	} else {
		if i := strings.LastIndex(h, ":"); i >= 0 {
			host, port = h[:i], h[i+1:]
			if port == "" {
				return "", fmt.Errorf("host %q: empty port", h)
			}
		}
		for _, c := range strings.Split(host, ".") {
			if !hostComponentRE.MatchString(c) {
				return "", fmt.Errorf("host %q: component %q is not a DNS label", h, c)
			}
		}
	}
	if port != "" && !portRE.MatchString(port) {
		return "", fmt.Errorf("host %q: port %q is not a number", h, port)
	}
	host = strings.ToLower(host)
	switch host {
	case "index.docker.io", "registry-1.docker.io":
		host = DockerHub
	}
	if port == "443" && (strings.ContainsAny(host, ".[") || host == "localhost") {
		port = "" // kept when the host alone would read as a Docker Hub path
	}
	if port != "" {
		return host + ":" + port, nil
	}
	return host, nil
}

// Repository is "host/path".
func (n Name) Repository() string { return n.Host + "/" + n.Path }

// String is the canonical reference: "host/path[:tag][@digest]".
func (n Name) String() string {
	s := n.Repository()
	if n.Tag != "" {
		s += ":" + n.Tag
	}
	if n.Digest != "" {
		s += "@" + n.Digest
	}
	return s
}

// ValidTag reports whether t is a tag the distribution grammar accepts.
func ValidTag(t string) bool { return tagRE.MatchString(t) }

// ValidPathComponent reports whether c is one repository path component
// the distribution grammar accepts.
func ValidPathComponent(c string) bool { return pathComponentRE.MatchString(c) }
