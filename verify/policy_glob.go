package verify

import (
	"fmt"
	"regexp"
	"strings"
)

// pattern is a compiled image glob. The rules (documented in docs/policy.md):
//
//	pattern   = repository [ ":" tag ] [ "@" digest ]
//	repository: fully qualified (registry host first: it contains "." or ":"
//	           or is "localhost"), or starts with a wildcard, or is "**".
//	*  matches any run of characters except "/" (within one path segment)
//	** matches any run of characters, "/" included (any number of segments)
//	?  matches one character except "/"
//	everything else matches itself; "[", "]", "{", "}", "\" and spaces are refused.
//
// The repository part is matched against the image's fully qualified name,
// the tag part against the tag of the reference (a digest-only reference has
// no tag and does not match a pattern with a tag part), the digest part
// against the image digest. A missing tag or digest part matches any.
// "index.docker.io/" is read as "docker.io/" on both sides.
type imagePattern struct {
	text   string
	repo   *regexp.Regexp
	tag    *regexp.Regexp // nil: any
	digest *regexp.Regexp // nil: any
}

// compilePattern parses one image glob; path names it in errors.
func compilePattern(text, path string) (*imagePattern, error) {
	if text == "" {
		return nil, fmt.Errorf("%s: %w: empty pattern", path, ErrInvalidPattern)
	}
	if i := strings.IndexAny(text, "[]{}\\ \t\r\n"); i >= 0 {
		return nil, fmt.Errorf("%s: %w: %q: character %q is reserved", path, ErrInvalidPattern, text, text[i])
	}
	p := &imagePattern{text: text}
	repo, digest, hasDigest := strings.Cut(text, "@")
	if hasDigest {
		if digest == "" || strings.Contains(digest, "@") {
			return nil, fmt.Errorf("%s: %w: %q: malformed digest part", path, ErrInvalidPattern, text)
		}
		p.digest = regexp.MustCompile(globToRegexp(digest, false))
	}
	slash := strings.LastIndex(repo, "/")
	if c := strings.LastIndex(repo, ":"); c > slash {
		tag := repo[c+1:]
		repo = repo[:c]
		if tag == "" {
			return nil, fmt.Errorf("%s: %w: %q: empty tag part", path, ErrInvalidPattern, text)
		}
		p.tag = regexp.MustCompile(globToRegexp(tag, false))
	}
	repo = normalizeDockerHub(repo)
	if repo != "**" {
		first, rest, ok := strings.Cut(repo, "/")
		if !ok || rest == "" || first == "" {
			return nil, fmt.Errorf("%s: %w: %q: the repository must be fully qualified (registry/path, for example docker.io/library/nginx), or \"**\"", path, ErrInvalidPattern, text)
		}
		if !strings.ContainsAny(first, ".:*?") && first != "localhost" {
			return nil, fmt.Errorf("%s: %w: %q: %q is not a registry host; write the fully qualified name (docker.io/library/... for Docker Hub)", path, ErrInvalidPattern, text, first)
		}
		if strings.Contains(rest, "//") || strings.HasSuffix(rest, "/") {
			return nil, fmt.Errorf("%s: %w: %q: empty path segment", path, ErrInvalidPattern, text)
		}
	}
	p.repo = regexp.MustCompile(globToRegexp(repo, true))
	return p, nil
}

// globToRegexp translates a glob into an anchored regular expression. In a
// repository (segmented) "*" and "?" stop at "/"; in a tag or digest they
// match any character.
func globToRegexp(glob string, segmented bool) string {
	var b strings.Builder
	b.WriteString("^")
	one, run := ".", ".*"
	if segmented {
		one, run = "[^/]", "[^/]*"
	}
	for i := 0; i < len(glob); i++ {
		switch c := glob[i]; c {
		case '*':
			if i+1 < len(glob) && glob[i+1] == '*' {
				for i+1 < len(glob) && glob[i+1] == '*' {
					i++
				}
				b.WriteString(".*")
			} else {
				b.WriteString(run)
			}
		case '?':
			b.WriteString(one)
		default:
			b.WriteString(regexp.QuoteMeta(string(c)))
		}
	}
	b.WriteString("$")
	return b.String()
}

func normalizeDockerHub(name string) string {
	if rest, ok := strings.CutPrefix(name, "index.docker.io/"); ok {
		return "docker.io/" + rest
	}
	return name
}

// imageRef is the parts of an image reference a pattern looks at.
type imageRef struct {
	name, tag, digest string
}

// splitReference splits "registry/repo[:tag][@digest]" without resolving
// defaults: the caller gives fully qualified references.
func splitReference(ref string) imageRef {
	var r imageRef
	name, digest, _ := strings.Cut(ref, "@")
	r.digest = digest
	slash := strings.LastIndex(name, "/")
	if c := strings.LastIndex(name, ":"); c > slash {
		r.tag = name[c+1:]
		name = name[:c]
	}
	r.name = name
	return r
}

// imageRefOf is what patterns are matched against for one image: the name
// from ImageInput.Name (or the reference), the tag from the reference, the
// digest from ImageInput.Digest (or the reference).
func imageRefOf(in ImageInput) imageRef {
	r := splitReference(in.Reference)
	if in.Name != "" {
		// Tolerate a Name that carries a tag or digest: the repository is
		// what repository globs match.
		n := splitReference(in.Name)
		r.name = n.name
		if r.tag == "" {
			r.tag = n.tag
		}
	}
	if in.Digest != "" {
		r.digest = in.Digest
	}
	r.name = normalizeDockerHub(r.name)
	return r
}

func (p *imagePattern) match(r imageRef) bool {
	if !p.repo.MatchString(r.name) {
		return false
	}
	if p.tag != nil && (r.tag == "" || !p.tag.MatchString(r.tag)) {
		return false
	}
	if p.digest != nil && (r.digest == "" || !p.digest.MatchString(r.digest)) {
		return false
	}
	return true
}
