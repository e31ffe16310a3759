package supervisor

import (
	"context"
	"fmt"
	"slices"
	"strings"
	"sync"
	"time"

	"github.com/mictl/mictl/pkg/mgmt"
	"github.com/mictl/mictl/pkg/observe"
	"github.com/mictl/mictl/pkg/state"
)

// Credentials log in to the instances' Management API.
type Credentials struct{ User, Password string }

// AppCounts is what MI last said of an instance's CApps: how many it runs
// and how many it could not deploy.
type AppCounts struct{ Active, Faulty int }

// appWatch is the supervisor's knowledge of the instances' CApps, from
// their Management API.
type appWatch struct {
	mu       sync.Mutex
	creds    Credentials
	counts   map[string]AppCounts
	inFlight map[string]bool
}

// SetCredentials sets how the supervisor logs in to the Management API
// (mictl.toml's management_user, management_password).
func (s *Supervisor) SetCredentials(c Credentials) {
	s.apps.mu.Lock()
	s.apps.creds = c
	s.apps.mu.Unlock()
}

// AppCounts returns what MI last said of each instance's CApps (only the
// instances asked so far).
func (s *Supervisor) AppCounts() map[string]AppCounts {
	s.apps.mu.Lock()
	defer s.apps.mu.Unlock()
	out := make(map[string]AppCounts, len(s.apps.counts))
	for k, v := range s.apps.counts {
		out[k] = v
	}
	return out
}

// appsVerifyTimeout bounds how long MI may take to pick up a changed
// CApp (its hot deployer scans every 15 s) and how often it is asked.
const (
	appsVerifyTimeout = 2 * time.Minute
	appsPollEvery     = time.Second
)

// verifyApps watches inst until its Management API lists every app of
// want, active or faulty, and none mictl removed, then says so in the
// event log (faulty ones with MI's reason) and keeps the counts. It runs
// in the background, one watch per instance at a time: a reload never
// waits for MI's hot deployer.
func (s *Supervisor) verifyApps(inst state.Instance, want []state.App) {
	s.apps.mu.Lock()
	if s.apps.inFlight == nil {
		s.apps.inFlight, s.apps.counts = map[string]bool{}, map[string]AppCounts{}
	}
	if s.apps.inFlight[inst.Name] {
		s.apps.mu.Unlock()
		return
	}
	s.apps.inFlight[inst.Name] = true
	creds := s.apps.creds
	s.apps.mu.Unlock()
	s.wg.Go(func() {
		defer func() {
			s.apps.mu.Lock()
			delete(s.apps.inFlight, inst.Name)
			s.apps.mu.Unlock()
		}()
		ctx, cancel := context.WithTimeout(s.ctx, appsVerifyTimeout)
		defer cancel()
		client, err := mgmt.New(mgmt.Options{URL: observe.ManagementURL(&inst), User: creds.User, Password: creds.Password, Timeout: 5 * time.Second})
		if err != nil {
			return
		}
		defer client.Close()
		ticker := time.NewTicker(appsPollEvery)
		defer ticker.Stop()
		var lastErr error
		for {
			apps, err := client.Applications(ctx)
			if err == nil {
				s.apps.mu.Lock()
				s.apps.counts[inst.Name] = AppCounts{Active: apps.ActiveCount, Faulty: apps.FaultyCount}
				s.apps.mu.Unlock()
				if pending := pendingApps(apps, want); len(pending) == 0 {
					s.reportApps(inst.Name, apps, want)
					return
				}
			}
			lastErr = err
			select {
			case <-ctx.Done():
				if s.ctx.Err() == nil {
					why := "MI did not list them"
					if lastErr != nil {
						why = lastErr.Error()
					}
					s.emit(Event{Instance: inst.Name, State: "apps-pending", Message: fmt.Sprintf("not deployed after %s: %s (%s)", appsVerifyTimeout, strings.Join(idsOf(want), ", "), why)})
				}
				return
			case <-ticker.C:
			}
		}
	})
}

// pendingApps lists the apps of want MI does not list yet.
func pendingApps(apps *mgmt.Applications, want []state.App) []string {
	var out []string
	for _, w := range want {
		listed := func(a mgmt.Application) bool { return a.ID() == w.ID }
		if !slices.ContainsFunc(apps.ActiveList, listed) && !slices.ContainsFunc(apps.FaultyList, listed) {
			out = append(out, w.ID)
		}
	}
	return out
}

// reportApps says, for each app of want, what MI made of it.
func (s *Supervisor) reportApps(name string, apps *mgmt.Applications, want []state.App) {
	for _, w := range want {
		if i := slices.IndexFunc(apps.FaultyList, func(a mgmt.Application) bool { return a.ID() == w.ID }); i >= 0 {
			s.emit(Event{Instance: name, State: "app-faulty", Message: fmt.Sprintf("%s: %s", w.ID, apps.FaultyList[i].ErrorMessage)})
			continue
		}
		s.emit(Event{Instance: name, State: "app-active", Message: w.ID})
	}
}

func idsOf(apps []state.App) []string {
	out := make([]string, len(apps))
	for i, a := range apps {
		out[i] = a.ID
	}
	return out
}
