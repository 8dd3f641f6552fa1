package main

import (
	"encoding/json"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"testing"

	"go.yaml.in/yaml/v3"

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
		// Operational hygiene: its own Namespace, replicas spread over
		// nodes, the runtime's seccomp profile, a startup probe, a pinned
		// image, and an HPA that works without a metrics adapter.
		for _, want := range []string{"kind: Namespace\n", "topologySpreadConstraints:", "podAntiAffinity:",
			"seccompProfile:\n          type: RuntimeDefault", "startupProbe:", "type: Resource", "name: cpu"} {
			if !strings.Contains(string(out), want) {
				t.Errorf("rendered manifests lack %q", want)
			}
		}
		if m := regexp.MustCompile(`image: (\S+)`).FindAllStringSubmatch(string(out), -1); len(m) == 0 {
			t.Error("no image")
		} else {
			for _, img := range m {
				if !regexp.MustCompile(`:[0-9]+\.[0-9]+\.[0-9]+$|@sha256:`).MatchString(img[1]) {
					t.Errorf("image %s is not pinned to a version", img[1])
				}
			}
		}
		if strings.Contains(string(out), "type: External") {
			t.Error("the HPA scales on an external metric, which needs an adapter the manifests do not provide")
		}
	})
	t.Run("Image", func(t *testing.T) {
		ignore, err := os.ReadFile(filepath.Join(root, ".dockerignore"))
		if err != nil {
			t.Fatal(err)
		}
		for _, want := range []string{"pomocore-data", ".git", "/pomocore\n"} {
			if !strings.Contains(string(ignore), want) {
				t.Errorf(".dockerignore does not leave out %q", want)
			}
		}
		docker, _ := os.ReadFile(filepath.Join(root, "Dockerfile"))
		if !regexp.MustCompile(`(?m)^HEALTHCHECK .*CMD \["/pomocore", "healthcheck"`).Match(docker) {
			t.Errorf("the Dockerfile has no HEALTHCHECK running pomocore healthcheck:\n%s", docker)
		}
	})
	t.Run("ComposeHygiene", func(t *testing.T) {
		b, err := os.ReadFile(filepath.Join(root, "docker-compose.yml"))
		if err != nil {
			t.Fatal(err)
		}
		var c struct {
			Services map[string]struct {
				Ports       []any          `yaml:"ports"`
				Healthcheck map[string]any `yaml:"healthcheck"`
				DependsOn   any            `yaml:"depends_on"`
			} `yaml:"services"`
		}
		if err := yaml.Unmarshal(b, &c); err != nil {
			t.Fatal(err)
		}
		for name, svc := range c.Services {
			if len(svc.Ports) > 0 {
				t.Errorf("service %s publishes host ports by default: %v", name, svc.Ports)
			}
			if svc.Healthcheck == nil {
				t.Errorf("service %s has no healthcheck", name)
			}
		}
		deps, ok := c.Services["pomocore"].DependsOn.(map[string]any)
		if !ok || len(deps) == 0 {
			t.Errorf("pomocore's depends_on names no condition: %v", c.Services["pomocore"].DependsOn)
		}
		for dep, d := range deps {
			if m, _ := d.(map[string]any); m["condition"] != "service_healthy" {
				t.Errorf("pomocore starts before %s is healthy", dep)
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
