package main

import (
	"encoding/json"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
)

// TestDeploymentFiles renders the kustomize manifests (with kubectl) and
// validates docker-compose.yml (with docker-compose), when the machine has
// them, and checks that the Grafana dashboard is JSON whose queries name
// metrics this service exports.
func TestDeploymentFiles(t *testing.T) {
	root := filepath.Join("..", "..")
	if _, err := exec.LookPath("kubectl"); err == nil {
		out, err := exec.Command("kubectl", "kustomize", filepath.Join(root, "deploy", "k8s")).CombinedOutput()
		if err != nil {
			t.Fatalf("kubectl kustomize: %v\n%s", err, out)
		}
		for _, kind := range []string{"Deployment", "PodDisruptionBudget", "HorizontalPodAutoscaler", "ConfigMap", "Secret", "Service"} {
			if !strings.Contains(string(out), "kind: "+kind+"\n") {
				t.Errorf("rendered manifests lack a %s", kind)
			}
		}
		for _, probe := range []string{"path: /healthz", "path: /readyz"} {
			if !strings.Contains(string(out), probe) {
				t.Errorf("deployment lacks %s", probe)
			}
		}
	} else {
		t.Log("kubectl not installed: manifests not rendered")
	}
	compose := filepath.Join(root, "docker-compose.yml")
	if _, err := exec.LookPath("docker-compose"); err == nil {
		if out, err := exec.Command("docker-compose", "-f", compose, "config", "-q").CombinedOutput(); err != nil {
			t.Errorf("docker-compose config: %v\n%s", err, out)
		}
	} else if out, err := exec.Command("docker", "compose", "-f", compose, "config", "-q").CombinedOutput(); err == nil {
		t.Log("docker compose config: ok")
	} else {
		t.Logf("no compose tool to validate docker-compose.yml: %s", strings.TrimSpace(string(out)))
	}
	b, err := os.ReadFile(filepath.Join(root, "deploy", "grafana", "pomocore-dashboard.json"))
	if err != nil {
		t.Fatal(err)
	}
	var dash struct {
		Panels []struct {
			Targets []struct{ Expr string }
		}
	}
	if err := json.Unmarshal(b, &dash); err != nil || len(dash.Panels) == 0 {
		t.Fatalf("dashboard: %v", err)
	}
	metricsSrc, _ := os.ReadFile(filepath.Join(root, "httpapi", "metrics.go"))
	serverSrc, _ := os.ReadFile(filepath.Join(root, "httpapi", "server.go"))
	src := string(metricsSrc) + string(serverSrc)
	name := regexp.MustCompile(`pomocore_([a-z_]+?)(_bucket)?\b`)
	for _, p := range dash.Panels {
		for _, tg := range p.Targets {
			for _, m := range name.FindAllStringSubmatch(tg.Expr, -1) {
				base := strings.TrimPrefix(m[1], "group_")
				if !strings.Contains(src, `"`+base+`"`) && !strings.Contains(src, `"`+m[1]+`"`) {
					t.Errorf("dashboard query %q names pomocore_%s, which is not exported", tg.Expr, m[1])
				}
			}
		}
	}
}
