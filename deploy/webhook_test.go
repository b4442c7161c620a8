package deploy_test

import (
	"io"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"

	appsv1 "k8s.io/api/apps/v1"
	corev1 "k8s.io/api/core/v1"

	"github.com/wabaworker/waba-worker/internal/config"
	"github.com/wabaworker/waba-worker/internal/gateway"
	"github.com/wabaworker/waba-worker/internal/webhook"
)

// The gateway's manifests: its Deployment runs `worker webhook` with the
// ConfigMap whole and only the verify token and app secret from the Secret,
// which `worker webhook` accepts; probes and the Service's ports are
// HTTP_ADDR's and WEBHOOK_ADDR's; the grace period covers the shutdown
// bound; the NACK stream is the one the gateway provisions.
func TestWebhookManifests(t *testing.T) {
	t.Parallel()
	objs := load(t)
	d := get[*appsv1.Deployment](t, objs, "kubernetes/webhook-deployment.yaml")
	cm := get[*corev1.ConfigMap](t, objs, "kubernetes/webhook-configmap.yaml")
	svc := get[*corev1.Service](t, objs, "kubernetes/webhook-service.yaml")
	workerSvc := get[*corev1.Service](t, objs, "kubernetes/service.yaml")
	secret := get[*corev1.Secret](t, objs, "kubernetes/secret.example.yaml")
	ns := get[*nackStream](t, objs, "nack/webhook-stream.yaml")

	pod := d.Spec.Template.Spec
	labels := d.Spec.Template.Labels
	if d.Spec.Replicas == nil || *d.Spec.Replicas < 2 {
		t.Errorf("replicas %v: run at least two gateways", d.Spec.Replicas)
	}
	if !subset(d.Spec.Selector.MatchLabels, labels) || !subset(svc.Spec.Selector, labels) {
		t.Errorf("the selectors %v / %v do not match the pods' labels %v", d.Spec.Selector.MatchLabels, svc.Spec.Selector, labels)
	}
	if subset(workerSvc.Spec.Selector, labels) {
		t.Errorf("the worker's Service selects the gateway's pods too")
	}
	if len(pod.Containers) != 1 {
		t.Fatalf("%d containers, want the gateway alone", len(pod.Containers))
	}
	c := pod.Containers[0]
	if !slices.Equal(c.Args, []string{"webhook"}) {
		t.Errorf("args %v, want [webhook]", c.Args)
	}
	if sc := c.SecurityContext; sc == nil || sc.ReadOnlyRootFilesystem == nil || !*sc.ReadOnlyRootFilesystem ||
		sc.AllowPrivilegeEscalation == nil || *sc.AllowPrivilegeEscalation || sc.Capabilities == nil || !slices.Contains(sc.Capabilities.Drop, "ALL") {
		t.Errorf("container securityContext %+v: want read-only, no escalation, drop ALL", sc)
	}
	if psc := pod.SecurityContext; psc == nil || psc.RunAsUser == nil || *psc.RunAsUser != imageUID {
		t.Errorf("pod securityContext %+v: want runAsUser %d", psc, imageUID)
	}

	// Ports: the probes on HTTP_ADDR, the "webhook" port on WEBHOOK_ADDR,
	// and the Service forwarding both.
	port := map[string]int32{}
	for _, p := range c.Ports {
		port[p.Name] = p.ContainerPort
	}
	onAddr := func(what string, n int32, addr string) {
		if want := ":" + strconv.Itoa(int(n)); n == 0 || !strings.HasSuffix(addr, want) {
			t.Errorf("%s: port %d is not %q's", what, n, addr)
		}
	}
	onAddr("container port webhook", port["webhook"], cm.Data["WEBHOOK_ADDR"])
	for name, probe := range map[string]*corev1.Probe{"/healthz": c.LivenessProbe, "/readyz": c.ReadinessProbe} {
		if probe == nil || probe.HTTPGet == nil || probe.HTTPGet.Path != name {
			t.Errorf("want an HTTP probe on %s", name)
			continue
		}
		onAddr(name+" probe", port[probe.HTTPGet.Port.StrVal], cm.Data["HTTP_ADDR"])
	}
	targets := map[string]bool{}
	for _, p := range svc.Spec.Ports {
		targets[p.TargetPort.StrVal] = port[p.TargetPort.StrVal] != 0
	}
	if !targets["webhook"] || !targets["http"] {
		t.Errorf("the Service's target ports %v: want webhook and http", targets)
	}

	// Configuration: `worker webhook` accepts it; only its keys; the two
	// secrets projected from the Secret, nothing else of it.
	env := map[string]string{}
	for k, v := range cm.Data {
		env[k] = v
	}
	known := map[string]bool{}
	for _, v := range config.WebhookVariables() {
		known[v[0]] = true
	}
	for k := range cm.Data {
		if !known[k] {
			t.Errorf("ConfigMap key %s is no setting of worker webhook", k)
		}
	}
	var vol *corev1.SecretVolumeSource
	for _, v := range pod.Volumes {
		if v.Secret != nil {
			vol = v.Secret
		}
	}
	if vol == nil || vol.SecretName != secret.Name {
		t.Fatalf("no volume of the Secret %s", secret.Name)
	}
	projected := map[string]bool{}
	for _, it := range vol.Items {
		if _, ok := secret.StringData[it.Key]; !ok {
			t.Errorf("the Secret has no key %q", it.Key)
		}
		projected[it.Path] = true
	}
	if len(projected) != 2 {
		t.Errorf("%d keys of the Secret mounted, want the verify token and the app secret only", len(projected))
	}
	tmp := t.TempDir()
	for _, e := range c.Env {
		if e.ValueFrom != nil {
			continue
		}
		if !strings.HasSuffix(e.Name, "_FILE") {
			env[e.Name] = e.Value
			continue
		}
		if key := filepath.Base(e.Value); !projected[key] {
			t.Errorf("%s=%s is not a mounted key", e.Name, e.Value)
		}
		stand := filepath.Join(tmp, filepath.Base(e.Value))
		if err := os.WriteFile(stand, []byte("secret\n"), 0o600); err != nil {
			t.Fatal(err)
		}
		env[e.Name] = stand
	}
	cfg, err := config.LoadWebhook(nil, config.MapEnv(env), io.Discard)
	if err != nil {
		t.Fatalf("worker webhook refuses the manifests' configuration: %v", err)
	}
	if pod.TerminationGracePeriodSeconds == nil || time.Duration(*pod.TerminationGracePeriodSeconds)*time.Second <= gateway.ShutdownTimeout+5*time.Second {
		t.Errorf("terminationGracePeriodSeconds %v leaves no room after the shutdown bound %s", pod.TerminationGracePeriodSeconds, gateway.ShutdownTimeout)
	}

	// The NACK stream is the one the gateway provisions, at three replicas.
	want := webhook.StreamConfig(cfg.Stream, cfg.MaxAge, 3)
	s := ns.Spec
	same(t, "Stream name", s.Name, want.Name)
	same(t, "Stream description", s.Description, want.Description)
	same(t, "Stream subjects", strings.Join(s.Subjects, ","), strings.Join(want.Subjects, ","))
	same(t, "Stream storage", s.Storage, enum(t, want.Storage))
	same(t, "Stream retention", s.Retention, enum(t, want.Retention))
	same(t, "Stream discard", s.Discard, enum(t, want.Discard))
	same(t, "Stream replicas", s.Replicas, want.Replicas)
	same(t, "Stream maxAge", duration(t, s.MaxAge), want.MaxAge)
	same(t, "Stream duplicateWindow", duration(t, s.DuplicateWindow), want.Duplicates)
}
