// Command k8s is one multi-call binary holding the Kubernetes components the
// testbed runs: the upstream kube-apiserver, kubelet, kube-controller-manager,
// kube-scheduler and kubectl commands, plus an embedded etcd at the version
// the pinned release itself is built and tested against, and `cri-reset`,
// which removes every pod sandbox through the CRI when the testbed goes down.
//
// Linking them together compiles the shared code once, which is what makes a
// cold build fit the CI budget. Each component still runs as its own process
// (`k8s kube-apiserver …`), so the process-wide signal handlers, flag sets and
// metric registries of the upstream commands never meet at run time.
package main

import (
	"context"
	"fmt"
	"os"
	"path/filepath"

	"github.com/spf13/cobra"
	"k8s.io/component-base/cli"
	_ "k8s.io/component-base/logs/json/register"
	_ "k8s.io/component-base/metrics/prometheus/clientgo"
	_ "k8s.io/component-base/metrics/prometheus/version"
	kubectl "k8s.io/kubectl/pkg/cmd"
	kubectlutil "k8s.io/kubectl/pkg/cmd/util"
	apiserver "k8s.io/kubernetes/cmd/kube-apiserver/app"
	controllermanager "k8s.io/kubernetes/cmd/kube-controller-manager/app"
	scheduler "k8s.io/kubernetes/cmd/kube-scheduler/app"
	kubelet "k8s.io/kubernetes/cmd/kubelet/app"
	_ "time/tzdata"
)

var components = map[string]func() *cobra.Command{
	"kube-apiserver":          apiserver.NewAPIServerCommand,
	"kube-controller-manager": controllermanager.NewControllerManagerCommand,
	"kube-scheduler":          func() *cobra.Command { return scheduler.NewSchedulerCommand() },
	"kubelet":                 func() *cobra.Command { return kubelet.NewKubeletCommand(context.Background()) },
}

func main() {
	name := filepath.Base(os.Args[0])
	args := os.Args[1:]
	if _, ok := components[name]; !ok && name != "kubectl" && name != "etcd" && name != "cri-reset" {
		if len(args) == 0 {
			usage()
		}
		name, args = args[0], args[1:]
	}
	// The upstream commands parse os.Args[1:] themselves.
	os.Args = append([]string{name}, args...)
	switch name {
	case "etcd":
		os.Exit(runEtcd(args))
	case "cri-reset":
		os.Exit(runCRIReset(args))
	case "kubectl":
		command := kubectl.NewDefaultKubectlCommand()
		if err := cli.RunNoErrOutput(command); err != nil {
			kubectlutil.CheckErr(err)
		}
		return
	}
	newCommand, ok := components[name]
	if !ok {
		usage()
	}
	os.Exit(cli.Run(newCommand()))
}

func usage() {
	fmt.Fprintln(os.Stderr, "usage: k8s etcd|kube-apiserver|kube-controller-manager|kube-scheduler|kubelet|kubectl|cri-reset [flags]")
	os.Exit(2)
}
