package main

import (
	"encoding/json"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"testing"

	"github.com/pomocore/pomocore/internal/tool"
)

// TestDeploymentFiles renders the kustomize manifests (with kubectl),
// validates docker-compose.yml (with docker-compose, or docker's compose
// plugin) and checks that the Grafana dashboard is JSON whose queries name
// metrics this service exports. A missing tool skips its subtest, or fails
// it under CI=true (see tool.Require).
func TestDeploymentFiles(t *testing.T) {
	root := filepath.Join("..", "..")
	t.Run("Kustomize", func(t *testing.T) {
		kubectl := tool.Require(t, "kubectl")
		out, err := exec.Command(kubectl, "kustomize", filepath.Join(root, "deploy", "k8s")).CombinedOutput()
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
	})
	t.Run("Compose", func(t *testing.T) {
		compose := filepath.Join(root, "docker-compose.yml")
		argv := []string{"docker", "compose"} // docker's compose plugin, where there is no docker-compose
		if _, err := exec.LookPath("docker-compose"); err == nil || exec.Command("docker", "compose", "version").Run() != nil {
			argv = []string{tool.Require(t, "docker-compose")}
		}
		argv = append(argv, "-f", compose, "config", "-q")
		if out, err := exec.Command(argv[0], argv[1:]...).CombinedOutput(); err != nil {
			t.Errorf("%s: %v\n%s", strings.Join(argv, " "), err, out)
		}
	})
	t.Run("GrafanaDashboard", func(t *testing.T) { testGrafanaDashboard(t, root) })
}

// testGrafanaDashboard checks that the Grafana dashboard is JSON whose
// queries name metrics this service exports.
func testGrafanaDashboard(t *testing.T, root string) {
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
