package main

import (
	"bytes"
	"fmt"
	"os"
	"os/exec"
	"strconv"
	"strings"
)

// runDocker runs the Docker partition harness (scripts/chaos-docker.sh):
// a FROM-scratch image, a Compose domain on its own network, network
// disconnects and pauses under load. Its last stdout line is the same
// kind of JSON summary as process mode; it is passed through.
func runDocker(script string, o options) int {
	if _, err := os.Stat(script); err != nil {
		return harnessError(fmt.Sprintf("--mode docker needs %s (run from the repository root, or pass --docker-script): %v", script, err), o.seed)
	}
	if _, err := exec.LookPath("docker"); err != nil {
		return harnessError("--mode docker needs the docker command: "+err.Error(), o.seed)
	}
	secs := int(o.duration.Seconds())
	if secs < 10 {
		secs = 10
	}
	cmd := exec.Command("bash", script, strconv.Itoa(secs))
	cmd.Env = append(os.Environ(), "SEED="+strconv.FormatInt(o.seed, 10))
	var out bytes.Buffer
	cmd.Stdout, cmd.Stderr = &out, os.Stderr
	err := cmd.Run()
	lines := strings.Split(strings.TrimSpace(out.String()), "\n")
	last := lines[len(lines)-1]
	if !strings.HasPrefix(last, "{") {
		return harnessError(fmt.Sprintf("docker harness printed no summary (exit %v)", err), o.seed)
	}
	fmt.Println(last)
	if err != nil {
		return 1
	}
	return 0
}
