// psa-oracle prints the Pod Security Admission verdict of every pod-bearing
// object in the given manifests, as computed by the official
// k8s.io/pod-security-admission policy package. kscan's posture tests compare
// kscan's own verdicts against these lines.
//
// Usage: psa-oracle FILE...   (multi-document YAML or JSON; "-" is stdin)
//
// Output: one JSON object per line:
//
//	{"kind":"Pod","namespace":"ns","name":"p","baseline":true,"restricted":false,
//	 "failed_checks":["runAsNonRoot"],"reasons":["runAsNonRoot != true: ..."]}
//
// baseline/restricted are the aggregate verdicts of policy.Evaluator at
// version "latest" (what admission enforces); failed_checks lists the IDs of
// the individual checks (their newest version) that do not allow the pod.
package main

import (
	"bufio"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os"
	"strings"

	"k8s.io/apimachinery/pkg/runtime"
	utilyaml "k8s.io/apimachinery/pkg/util/yaml"
	"k8s.io/client-go/kubernetes/scheme"
	"k8s.io/pod-security-admission/admission"
	"k8s.io/pod-security-admission/api"
	"k8s.io/pod-security-admission/policy"
)

type verdict struct {
	Kind         string   `json:"kind"`
	Namespace    string   `json:"namespace"`
	Name         string   `json:"name"`
	Baseline     bool     `json:"baseline"`
	Restricted   bool     `json:"restricted"`
	FailedChecks []string `json:"failed_checks"`
	Reasons      []string `json:"reasons"`
}

func main() {
	if len(os.Args) < 2 {
		fmt.Fprintln(os.Stderr, "usage: psa-oracle FILE... (- for stdin)")
		os.Exit(2)
	}
	evaluator, err := policy.NewEvaluator(policy.DefaultChecks(), nil)
	if err != nil {
		fail(err)
	}
	out := bufio.NewWriter(os.Stdout)
	defer out.Flush()
	enc := json.NewEncoder(out)
	for _, path := range os.Args[1:] {
		if err := scanFile(path, evaluator, enc); err != nil {
			fail(fmt.Errorf("%s: %w", path, err))
		}
	}
}

func fail(err error) {
	fmt.Fprintln(os.Stderr, "psa-oracle:", err)
	os.Exit(1)
}

func scanFile(path string, evaluator policy.Evaluator, enc *json.Encoder) error {
	var r io.Reader = os.Stdin
	if path != "-" {
		f, err := os.Open(path)
		if err != nil {
			return err
		}
		defer f.Close()
		r = f
	}
	docs := utilyaml.NewYAMLReader(bufio.NewReaderSize(r, 1<<20))
	decoder := scheme.Codecs.UniversalDeserializer()
	for n := 1; ; n++ {
		doc, err := docs.Read()
		if errors.Is(err, io.EOF) {
			return nil
		}
		if err != nil {
			return err
		}
		if strings.TrimSpace(string(doc)) == "" {
			continue
		}
		obj, _, err := decoder.Decode(doc, nil, nil)
		if err != nil {
			return fmt.Errorf("document %d: %w", n, err)
		}
		v, err := evaluate(obj, evaluator)
		if err != nil {
			return fmt.Errorf("document %d: %w", n, err)
		}
		if err := enc.Encode(v); err != nil {
			return err
		}
	}
}

func evaluate(obj runtime.Object, evaluator policy.Evaluator) (*verdict, error) {
	accessor, ok := obj.(interface {
		GetName() string
		GetNamespace() string
	})
	if !ok {
		return nil, fmt.Errorf("object %T has no metadata", obj)
	}
	meta, spec, err := admission.DefaultPodSpecExtractor{}.ExtractPodSpec(obj)
	if err != nil {
		return nil, err
	}
	v := &verdict{
		Kind:         obj.GetObjectKind().GroupVersionKind().Kind,
		Namespace:    accessor.GetNamespace(),
		Name:         accessor.GetName(),
		FailedChecks: []string{},
		Reasons:      []string{},
	}
	latest := api.LatestVersion()
	for _, level := range []api.Level{api.LevelBaseline, api.LevelRestricted} {
		results := evaluator.EvaluatePod(api.LevelVersion{Level: level, Version: latest}, meta, spec)
		allowed := policy.AggregateCheckResults(results).Allowed
		if level == api.LevelBaseline {
			v.Baseline = allowed
		} else {
			v.Restricted = allowed
		}
	}
	for _, check := range policy.DefaultChecks() {
		newest := check.Versions[len(check.Versions)-1]
		result := newest.CheckPod(meta, spec)
		if !result.Allowed {
			v.FailedChecks = append(v.FailedChecks, string(check.ID))
			v.Reasons = append(v.Reasons, fmt.Sprintf("%s: %s: %s", check.ID, result.ForbiddenReason, result.ForbiddenDetail))
		}
	}
	return v, nil
}
