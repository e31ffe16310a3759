package home_test

import (
	"fmt"
	"os"
	"path/filepath"
	"sync"
	"testing"

	"github.com/mictl/mictl/pkg/home"
)

// miShape is roughly how a Micro Integrator 4.x distribution spreads its
// files (directory, subdirectories, files in each, their extension): a few
// thousand, most of them jars (hard-linked into each home, the rest
// copied), which the simulator's distribution of fifteen entries does not
// show.
var miShape = []struct {
	dir         string
	subdirs     int
	filesPerDir int
	ext         string
}{
	{"wso2/components/plugins", 1, 900, ".jar"},
	{"lib", 1, 150, ".jar"},
	{"wso2/lib", 10, 30, ".jar"},
	{"conf", 40, 5, ".xml"},
	{"repository/resources", 60, 6, ".xml"},
	{"repository/deployment/server", 30, 4, ".xml"},
	{"dbscripts", 10, 10, ".sql"},
	{"wso2/components/features", 80, 3, ".jar"},
}

// makeMIShapedDist writes a distribution of miShape under dir and returns
// how many files it holds.
func makeMIShapedDist(b *testing.B, dir string) int {
	b.Helper()
	files := 0
	for _, s := range miShape {
		for d := range s.subdirs {
			sub := filepath.Join(dir, filepath.FromSlash(s.dir))
			if s.subdirs > 1 {
				sub = filepath.Join(sub, fmt.Sprint("d", d))
			}
			if err := os.MkdirAll(sub, 0o755); err != nil {
				b.Fatal(err)
			}
			for f := range s.filesPerDir {
				if err := os.WriteFile(filepath.Join(sub, fmt.Sprintf("f%d%s", f, s.ext)), []byte("PK\x03\x04"), 0o644); err != nil {
					b.Fatal(err)
				}
				files++
			}
		}
	}
	return files
}

// BenchmarkSyncMIShaped20Homes is what `up` of 20 instances of a real MI
// spends bringing homes that are already up to date up to date: the
// distribution read once, then the twenty homes synced from it at once,
// as reconcile.Prepare does.
func BenchmarkSyncMIShaped20Homes(b *testing.B) {
	root := b.TempDir()
	src := filepath.Join(root, "wso2mi")
	files := makeMIShapedDist(b, src)
	homes := make([]string, 20)
	for i := range homes {
		homes[i] = filepath.Join(root, "instances", fmt.Sprint("mi-", i+1))
	}
	syncAll := func() {
		dist, err := home.ReadDistribution(src)
		if err != nil {
			b.Fatal(err)
		}
		errs := make([]error, len(homes))
		var wg sync.WaitGroup
		for i, h := range homes {
			wg.Go(func() { _, errs[i] = dist.Sync(h) })
		}
		wg.Wait()
		for _, err := range errs {
			if err != nil {
				b.Fatal(err)
			}
		}
	}
	syncAll() // the first up: every home cloned
	for b.Loop() {
		syncAll()
	}
	b.ReportMetric(float64(files), "files/home")
}

// BenchmarkBehindMIShaped20Homes is what a reload (or diff) of 20 running
// instances of a real MI spends asking whether their homes are behind the
// distribution, four at a time as reconcile.Compare asks, with nothing
// changed.
func BenchmarkBehindMIShaped20Homes(b *testing.B) {
	root := b.TempDir()
	src := filepath.Join(root, "wso2mi")
	files := makeMIShapedDist(b, src)
	dist, err := home.ReadDistribution(src)
	if err != nil {
		b.Fatal(err)
	}
	homes := make([]string, 20)
	for i := range homes {
		homes[i] = filepath.Join(root, "instances", fmt.Sprint("mi-", i+1))
		if _, err := dist.Sync(homes[i]); err != nil {
			b.Fatal(err)
		}
	}
	for b.Loop() {
		dist, err := home.ReadDistribution(src)
		if err != nil {
			b.Fatal(err)
		}
		sem := make(chan struct{}, 4)
		var wg sync.WaitGroup
		for _, h := range homes {
			wg.Go(func() {
				sem <- struct{}{}
				defer func() { <-sem }()
				if behind, _, _, err := dist.Behind(h); err != nil || len(behind) > 0 {
					b.Errorf("%s: behind %q, %v", h, behind, err)
				}
			})
		}
		wg.Wait()
	}
	b.ReportMetric(float64(files), "files/home")
}
