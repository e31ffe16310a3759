// Package appstate tells which CApps each instance runs, and in what
// state, for `mictl apps` and `mictl deploy --wait` / `undeploy --wait`:
// what mictl.toml declares for the instance, next to what the instance's
// Micro Integrator says.
//
// MI says it through its Management API (GET /management/applications:
// the active and the faulty applications, a faulty one with its
// errorMessage). An instance whose Management API is off
// ([mediation] internal_http_api_enable = false) says it only in its log,
// repository/logs/wso2carbon.log, whose CappDeployer lines (deployed,
// undeployed, failed) this package reads instead (docs/mi-integrations.md,
// "Hot deployment", "Management API").
//
// # States
//
// An application is "active" or "faulty" as MI lists it; "pending" when
// mictl.toml declares it and MI does not list it (yet), or lists an older
// build of it; "unknown" when the instance could not be asked. MI does not
// say which build of an application it runs, so "this build" means: the
// instance's carbonapps/ directory holds a file with the declared file's
// bytes (told by size and modification time, which mictl's copy keeps,
// else by SHA-256). Between a copy and MI's next scan of carbonapps/
// (15 s in MI; the simulator deploys at once) an application may read "active"
// while the previous build still runs; `mictl deploy --wait`, and the
// daemon's check of each CApp change, wait for MI's own log line instead
// (Waiter).
//
// # Asking
//
// One Management API client per instance, one login each, every instance
// asked at the same time, every call bounded by a timeout: an instance
// that does not answer shows why, and never holds up the others.
package appstate
