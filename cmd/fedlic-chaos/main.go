// Command fedlic-chaos runs a three-node fedlic domain of real agent
// processes under concurrent client load while killing (kill -9),
// pausing (SIGSTOP) and restarting nodes, records every operation, and
// then checks the history with package history: linearizability of
// linearizable reads and writes, no acknowledged write lost, no
// revocation undone, equal replicas, stale reads available without a
// leader. The last line on stdout is one JSON object; the exit status is
// 0 when every check passed, 1 when one failed, 2 on a harness error.
//
// It owns the processes and the load; it must not import the server
// packages (node, fsm, api): it talks to fedlic only over gRPC.
package main

import (
	"context"
	"encoding/json"
	"fmt"
	"os"
	"os/signal"
	"strings"
	"syscall"
	"time"

	"github.com/spf13/pflag"
)

func main() {
	os.Exit(mainExit(os.Args[1:]))
}

func mainExit(args []string) int {
	fs := pflag.NewFlagSet("fedlic-chaos", pflag.ContinueOnError)
	var o options
	var nodes, mode string
	fs.DurationVar(&o.duration, "duration", 60*time.Second, "how long to run load and faults")
	fs.Int64Var(&o.seed, "seed", 0, "seed for the fault schedule and the clients (default: time-based, printed)")
	fs.IntVar(&o.clients, "clients", 8, "concurrent clients")
	fs.StringVar(&o.fedlic, "fedlic", "", "path of the fedlic binary (default: beside this one, else bin/fedlic)")
	fs.StringVar(&nodes, "nodes", "", "attach to existing nodes H:P,... instead of starting three (no faults)")
	fs.StringVar(&mode, "mode", "process", "process (real agent processes on loopback) or docker (a Compose domain partitioned with docker network disconnect)")
	var dockerScript string
	fs.StringVar(&dockerScript, "docker-script", "scripts/chaos-docker.sh", "with --mode docker: the script that builds the image and runs the partitions")
	fs.StringVar(&o.keep, "keep", "", "keep history, report and logs in DIR (default: only on failure, in a new temp folder)")
	fs.DurationVar(&o.faultInterval, "fault-interval", 3*time.Second, "time between faults (0: no faults)")
	fs.Uint64Var(&o.snapshotThreshold, "snapshot-threshold", 64, "agents' --snapshot-threshold (small, so snapshots and restarts from them happen)")
	fs.StringVar(&o.scenario, "scenario", "", "snapshot-restart: first revoke, snapshot and restart a follower from its snapshot")
	fs.DurationVar(&o.linTimeout, "check-timeout", 60*time.Second, "bound on the linearizability search")
	fs.StringVar(&o.partitions, "partitions", partitionsAuto, "process mode: auto (partition faults in network namespaces when root and ip netns add works, else none), netns (required), off")
	var federation bool
	var aFaultInterval time.Duration
	fs.BoolVar(&federation, "federation", false, "two federated domains under load; B's nodes killed and restarted (all at once too); A's checks must all succeed (process mode only)")
	fs.DurationVar(&aFaultInterval, "a-fault-interval", 7*time.Second, "with --federation: time between kills of domain A's nodes (0: none; --fault-interval is B's)")
	if err := fs.Parse(args); err != nil {
		if err == pflag.ErrHelp {
			return 0
		}
		return 2
	}
	if federation && mode != "process" {
		return harnessError("--federation runs in process mode only", o.seed)
	}
	switch mode {
	case "process":
	case "docker":
		if !fs.Changed("seed") {
			o.seed = time.Now().UnixNano() % 32768
		}
		return runDocker(dockerScript, o)
	default:
		return harnessError(fmt.Sprintf("--mode %q: use process or docker", mode), o.seed)
	}
	if o.scenario != "" && o.scenario != scenarioSnapshotRestart {
		return harnessError(fmt.Sprintf("unknown --scenario %q: the only one is %s", o.scenario, scenarioSnapshotRestart), o.seed)
	}
	if !fs.Changed("seed") {
		o.seed = time.Now().UnixNano()
	}
	if nodes != "" {
		o.nodes = strings.Split(nodes, ",")
	}
	fmt.Fprintf(os.Stderr, "fedlic-chaos: seed %d (rerun with --seed %d)\n", o.seed, o.seed)
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	if federation {
		return federationMain(ctx, fedOptions{options: o, aFaultInterval: aFaultInterval})
	}
	sum, err := run(ctx, o)
	if err != nil {
		sum.OK, sum.Error, sum.Seed = false, err.Error(), o.seed
		printSummary(sum)
		fmt.Fprintf(os.Stderr, "fedlic-chaos: %v\n", err)
		return 2
	}
	printSummary(sum)
	if !sum.OK {
		fmt.Fprintf(os.Stderr, "fedlic-chaos: CHECK FAILED (seed %d); evidence in %s\n", o.seed, sum.Kept)
		return 1
	}
	return 0
}

func harnessError(msg string, seed int64) int {
	fmt.Fprintln(os.Stderr, "fedlic-chaos: "+msg)
	printSummary(summary{Seed: seed, Error: msg})
	return 2
}

func printSummary(s summary) {
	b, _ := json.Marshal(s)
	fmt.Println(string(b))
}
