// Command fedlic is the single fedlic binary: `fedlic agent` runs a
// server, `fedlic dev` a local demo domain, and the other commands are
// clients of a running node.
package main

import (
	"errors"
	"fmt"
	"os"

	"github.com/spf13/cobra"
)

// Exit codes are a contract: 0 success (or allowed), 1 denied / not
// valid, 2 error.
const (
	exitOK     = 0
	exitDenied = 1
	exitError  = 2
)

// codeError carries a specific exit code out of a command; err may be
// nil when the output already said everything (a denied check).
type codeError struct {
	code int
	err  error
}

func (e *codeError) Error() string {
	if e.err == nil {
		return fmt.Sprintf("exit code %d", e.code)
	}
	return e.err.Error()
}

func main() {
	root := newRoot()
	if err := root.Execute(); err != nil {
		var ce *codeError
		if errors.As(err, &ce) {
			if ce.err != nil && ce.code == exitError {
				fmt.Fprintln(os.Stderr, "error:", ce.err)
			}
			os.Exit(ce.code)
		}
		fmt.Fprintln(os.Stderr, "error:", err)
		os.Exit(exitError)
	}
}

func newRoot() *cobra.Command {
	root := &cobra.Command{
		Use:           "fedlic",
		Short:         "fedlic: a federated license ledger",
		SilenceUsage:  true,
		SilenceErrors: true,
	}
	root.AddCommand(agentCmd(), devCmd(), licenseCmd(), checkCmd(), clusterCmd(), snapshotCmd(), domainCmd(), keysCmd(), trustCmd(), federationCmd())
	root.SetFlagErrorFunc(func(c *cobra.Command, err error) error {
		return fmt.Errorf("%w\nsee '%s --help'", err, c.CommandPath())
	})
	return root
}
