// Command replay is a floor for `make bench`: it sends again the GET
// requests a registry's access log records (the requests an airlock export
// made), over kept-alive connections with -jobs in flight, and does nothing
// with the answers but read them. What it takes is the least any client can
// take to make those requests of that registry on this machine, so the
// benchmark can say how much of export's time is the registry's.
//
//	replay [-jobs 16] [-blobs] http://HOST:PORT < ACCESS_LOG
//
// -blobs replays only the blob GETs that succeeded: the bytes no client can
// avoid fetching. Prints the number of requests and the seconds taken.
package main

import (
	"bufio"
	"errors"
	"flag"
	"fmt"
	"io"
	"net/http"
	"os"
	"strings"
	"sync"
	"time"
)

func main() {
	jobs := flag.Int("jobs", 16, "requests in flight")
	blobs := flag.Bool("blobs", false, "replay only the blob GETs answered 200")
	flag.Parse()
	if flag.NArg() != 1 || *jobs < 1 {
		fmt.Fprintln(os.Stderr, "usage: replay [-jobs N] [-blobs] http://HOST:PORT < ACCESS_LOG")
		os.Exit(2)
	}
	paths, err := requests(os.Stdin, *blobs)
	if err == nil && len(paths) == 0 {
		err = errors.New("no GET /v2/ requests in the access log")
	}
	if err != nil {
		fmt.Fprintln(os.Stderr, "replay:", err)
		os.Exit(1)
	}
	took, err := run(strings.TrimSuffix(flag.Arg(0), "/"), paths, *jobs)
	if err != nil {
		fmt.Fprintln(os.Stderr, "replay:", err)
		os.Exit(1)
	}
	fmt.Printf("%d %.3f\n", len(paths), took.Seconds())
}

// requests reads the paths of the GET /v2/ requests from access log lines
// in the combined log format (`... "GET /v2/x/blobs/sha256:... HTTP/1.1"
// 200 ...`), leaving out the ping (GET /v2/); with onlyBlobs, only the blob
// GETs answered 200.
func requests(r io.Reader, onlyBlobs bool) ([]string, error) {
	var paths []string
	sc := bufio.NewScanner(r)
	sc.Buffer(make([]byte, 64<<10), 1<<20)
	for sc.Scan() {
		_, rest, ok := strings.Cut(sc.Text(), `"GET /v2/`)
		if !ok {
			continue
		}
		path, rest, ok := strings.Cut(rest, " HTTP/")
		if !ok {
			continue
		}
		_, status, _ := strings.Cut(rest, `" `)
		if onlyBlobs && (!strings.Contains(path, "/blobs/") || !strings.HasPrefix(status, "200 ")) {
			continue
		}
		if path != "" {
			paths = append(paths, "/v2/"+path)
		}
	}
	return paths, sc.Err()
}

// run sends a GET for each path with jobs workers and reads every answer
// to its end.
func run(base string, paths []string, jobs int) (time.Duration, error) {
	client := &http.Client{Transport: &http.Transport{MaxIdleConnsPerHost: jobs}}
	accept := "application/vnd.oci.image.index.v1+json, application/vnd.oci.image.manifest.v1+json, " +
		"application/vnd.docker.distribution.manifest.list.v2+json, application/vnd.docker.distribution.manifest.v2+json"
	work := make(chan string)
	errs := make(chan error, jobs)
	var wg sync.WaitGroup
	start := time.Now()
	for range jobs {
		wg.Go(func() {
			for p := range work {
				req, err := http.NewRequest(http.MethodGet, base+p, nil)
				if err != nil {
					errs <- err
					return
				}
				req.Header.Set("Accept", accept)
				resp, err := client.Do(req)
				if err != nil {
					errs <- err
					return
				}
				_, err = io.Copy(io.Discard, resp.Body)
				resp.Body.Close()
				if err != nil {
					errs <- fmt.Errorf("reading %s: %w", p, err)
					return
				}
			}
		})
	}
	var err error
feed:
	for _, p := range paths {
		select {
		case work <- p:
		case err = <-errs:
			break feed
		}
	}
	close(work)
	wg.Wait()
	if err == nil {
		select {
		case err = <-errs:
		default:
		}
	}
	return time.Since(start), err
}
