package main

import (
	"context"
	"fmt"
	"os"
	"time"

	"google.golang.org/grpc"
	"google.golang.org/grpc/credentials/insecure"
	runtimeapi "k8s.io/cri-api/pkg/apis/runtime/v1"
)

// runCRIReset stops and removes every pod sandbox (and so every container)
// the CRI runtime at the given endpoint knows, the way the kubelet would:
// through the CRI, so the runtime also tears down each pod's network
// namespace and CNI attachment. `testbed down` runs it after stopping the
// kubelet. Usage: k8s cri-reset unix:///path/to/containerd.sock
func runCRIReset(args []string) int {
	if len(args) != 1 {
		fmt.Fprintln(os.Stderr, "usage: k8s cri-reset unix:///path/to/runtime.sock")
		return 2
	}
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	conn, err := grpc.NewClient(args[0], grpc.WithTransportCredentials(insecure.NewCredentials()))
	if err != nil {
		fmt.Fprintf(os.Stderr, "cri-reset: connect %s: %v\n", args[0], err)
		return 1
	}
	defer conn.Close()
	rt := runtimeapi.NewRuntimeServiceClient(conn)
	list, err := rt.ListPodSandbox(ctx, &runtimeapi.ListPodSandboxRequest{})
	if err != nil {
		fmt.Fprintf(os.Stderr, "cri-reset: list pod sandboxes: %v\n", err)
		return 1
	}
	failed := 0
	for _, sb := range list.Items {
		name := sb.GetMetadata().GetNamespace() + "/" + sb.GetMetadata().GetName()
		if _, err := rt.StopPodSandbox(ctx, &runtimeapi.StopPodSandboxRequest{PodSandboxId: sb.Id}); err != nil {
			fmt.Fprintf(os.Stderr, "cri-reset: stop %s (%s): %v\n", name, sb.Id, err)
			failed++
			continue
		}
		if _, err := rt.RemovePodSandbox(ctx, &runtimeapi.RemovePodSandboxRequest{PodSandboxId: sb.Id}); err != nil {
			fmt.Fprintf(os.Stderr, "cri-reset: remove %s (%s): %v\n", name, sb.Id, err)
			failed++
			continue
		}
		fmt.Fprintf(os.Stderr, "cri-reset: removed pod %s\n", name)
	}
	if failed > 0 {
		return 1
	}
	return 0
}
