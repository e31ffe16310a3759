package cli

import (
	"fmt"
	"path/filepath"

	"github.com/spf13/cobra"

	"github.com/mictl/mictl/pkg/exitcode"
	"github.com/mictl/mictl/pkg/metrics"
)

type exportPrometheusOptions struct {
	metricsAddr string
}

// newCmdExportPrometheus is `mictl export prometheus`: a prometheus.yml
// for the daemon's metrics and every instance's MI metrics.
func newCmdExportPrometheus(streams *IOStreams, g *globalOptions) *cobra.Command {
	o := &exportPrometheusOptions{}
	cmd := &cobra.Command{
		Use:   "prometheus",
		Short: "Print a Prometheus scrape configuration for the daemon and every instance",
		Long: `Print a ready prometheus.yml with two jobs: "mictl", the supervisor
daemon's own metrics on metrics_addr (instance states, restarts, time to
ready, CPU, memory, threads and open files of each instance), and
"wso2-mi", every instance's MI metrics (/metric-service/metrics on its
internal HTTP port, with metrics = true), found through the file the daemon
keeps current, instances/.mictl/prometheus-targets.json. Prometheus follows
that file as instances come, go or change offset: the configuration never
needs editing again. Nothing is written: redirect the output.`,
		Example: `  mictl export prometheus > prometheus.yml
  prometheus --config.file=prometheus.yml`,
		Args: usageArgs(cobra.NoArgs),
		RunE: func(cmd *cobra.Command, _ []string) error {
			addr := ""
			if o.metricsAddr != "" {
				a, err := metrics.ParseAddr(o.metricsAddr)
				if err != nil {
					return exitcode.Usagef("--metrics-addr: %v", err)
				}
				addr = a
			}
			cfg, cfgErr, err := loadDirConfig(cmd, g)
			if err != nil {
				return err
			}
			if cfgErr != nil {
				return cfgErr
			}
			// Prometheus resolves a relative path against its own
			// configuration file's directory, not ours.
			targets, err := filepath.Abs(filepath.Join(cfg.InstancesDir, ".mictl", metrics.TargetsFileName))
			if err != nil {
				return fmt.Errorf("the path of the Prometheus targets file: %w", err)
			}
			_, err = streams.Out.Write(metrics.ScrapeConfig(addr, targets))
			return err
		},
	}
	addDirFlag(cmd)
	cmd.Flags().StringVar(&o.metricsAddr, "metrics-addr", "", "the daemon's metrics address (host:port); empty: no daemon job")
	return cmd
}
