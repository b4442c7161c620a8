// Checks of the deployment manifests: every Kubernetes manifest decodes
// strictly into its Kubernetes API type (an unknown, misspelt or miscased
// field fails), the NACK resources into the fields NACK's v1beta2 CRDs
// define, and the nats CLI definitions into nats.go's JetStream configuration
// types; then they must agree with each other, with what the worker
// provisions, and with the worker's configuration.

package deploy_test

import (
	"cmp"
	"encoding/json"
	"errors"
	"io"
	"os"
	"path/filepath"
	"reflect"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/nats-io/nats.go/jetstream"
	appsv1 "k8s.io/api/apps/v1"
	corev1 "k8s.io/api/core/v1"
	policyv1 "k8s.io/api/policy/v1"
	sigsjson "sigs.k8s.io/json"
	"sigs.k8s.io/yaml"

	"github.com/wabaworker/waba-worker/internal/config"
	"github.com/wabaworker/waba-worker/internal/lease"
	"github.com/wabaworker/waba-worker/internal/ledger"
	"github.com/wabaworker/waba-worker/internal/wabatype"
	"github.com/wabaworker/waba-worker/internal/worker"
)

// The image's unprivileged user (build/worker.Dockerfile).
const imageUID = 65532

// typeMeta is what every manifest starts with.
type typeMeta struct {
	APIVersion string `json:"apiVersion"`
	Kind       string `json:"kind"`
}

// objectMeta is the part of Kubernetes' ObjectMeta the NACK resources use.
type objectMeta struct {
	Name        string            `json:"name"`
	Namespace   string            `json:"namespace,omitempty"`
	Labels      map[string]string `json:"labels,omitempty"`
	Annotations map[string]string `json:"annotations,omitempty"`
}

// nackStream is jetstream.nats.io/v1beta2 Stream, with the spec fields of
// NACK's CRD that a stream like ours can use.
type nackStream struct {
	typeMeta `json:",inline"`
	Metadata objectMeta `json:"metadata"`
	Spec     struct {
		Name              string   `json:"name"`
		Description       string   `json:"description,omitempty"`
		Subjects          []string `json:"subjects"`
		Storage           string   `json:"storage"`
		Retention         string   `json:"retention,omitempty"`
		Discard           string   `json:"discard,omitempty"`
		Replicas          int      `json:"replicas,omitempty"`
		DuplicateWindow   string   `json:"duplicateWindow,omitempty"`
		MaxAge            string   `json:"maxAge,omitempty"`
		MaxBytes          int64    `json:"maxBytes,omitempty"`
		MaxMsgs           int64    `json:"maxMsgs,omitempty"`
		MaxMsgSize        int32    `json:"maxMsgSize,omitempty"`
		MaxConsumers      int      `json:"maxConsumers,omitempty"`
		MaxMsgsPerSubject int64    `json:"maxMsgsPerSubject,omitempty"`
		NoAck             bool     `json:"noAck,omitempty"`
		AllowDirect       bool     `json:"allowDirect,omitempty"`
		DenyDelete        bool     `json:"denyDelete,omitempty"`
		DenyPurge         bool     `json:"denyPurge,omitempty"`
		Servers           []string `json:"servers,omitempty"`
		Account           string   `json:"account,omitempty"`
		Creds             string   `json:"creds,omitempty"`
		PreventDelete     bool     `json:"preventDelete,omitempty"`
		PreventUpdate     bool     `json:"preventUpdate,omitempty"`
	} `json:"spec"`
}

// nackConsumer is jetstream.nats.io/v1beta2 Consumer, with the spec fields
// of NACK's CRD that a pull consumer like ours can use.
type nackConsumer struct {
	typeMeta `json:",inline"`
	Metadata objectMeta `json:"metadata"`
	Spec     struct {
		StreamName        string   `json:"streamName"`
		DurableName       string   `json:"durableName"`
		Description       string   `json:"description,omitempty"`
		FilterSubject     string   `json:"filterSubject,omitempty"`
		FilterSubjects    []string `json:"filterSubjects,omitempty"`
		DeliverPolicy     string   `json:"deliverPolicy,omitempty"`
		OptStartSeq       uint64   `json:"optStartSeq,omitempty"`
		OptStartTime      string   `json:"optStartTime,omitempty"`
		AckPolicy         string   `json:"ackPolicy,omitempty"`
		AckWait           string   `json:"ackWait,omitempty"`
		MaxDeliver        int      `json:"maxDeliver,omitempty"`
		MaxAckPending     int      `json:"maxAckPending,omitempty"`
		MaxWaiting        int      `json:"maxWaiting,omitempty"`
		MaxRequestBatch   int      `json:"maxRequestBatch,omitempty"`
		MaxRequestExpires string   `json:"maxRequestExpires,omitempty"`
		Backoff           []string `json:"backoff,omitempty"`
		ReplayPolicy      string   `json:"replayPolicy,omitempty"`
		Replicas          int      `json:"replicas,omitempty"`
		MemStorage        bool     `json:"memStorage,omitempty"`
		InactiveThreshold string   `json:"inactiveThreshold,omitempty"`
		Servers           []string `json:"servers,omitempty"`
		Account           string   `json:"account,omitempty"`
		Creds             string   `json:"creds,omitempty"`
		PreventDelete     bool     `json:"preventDelete,omitempty"`
		PreventUpdate     bool     `json:"preventUpdate,omitempty"`
	} `json:"spec"`
}

// nackKeyValue is jetstream.nats.io/v1beta2 KeyValue, with the spec fields
// of NACK's CRD that a bucket like ours can use.
type nackKeyValue struct {
	typeMeta `json:",inline"`
	Metadata objectMeta `json:"metadata"`
	Spec     struct {
		Bucket        string   `json:"bucket"`
		Description   string   `json:"description,omitempty"`
		History       int      `json:"history,omitempty"`
		TTL           string   `json:"ttl,omitempty"`
		MaxValueSize  int      `json:"maxValueSize,omitempty"`
		MaxBytes      int64    `json:"maxBytes,omitempty"`
		Storage       string   `json:"storage,omitempty"`
		Replicas      int      `json:"replicas,omitempty"`
		Compression   bool     `json:"compression,omitempty"`
		Servers       []string `json:"servers,omitempty"`
		Account       string   `json:"account,omitempty"`
		Creds         string   `json:"creds,omitempty"`
		PreventDelete bool     `json:"preventDelete,omitempty"`
		PreventUpdate bool     `json:"preventUpdate,omitempty"`
	} `json:"spec"`
}

// kustomization is the part of kustomize's Kustomization we use.
type kustomization struct {
	typeMeta  `json:",inline"`
	Namespace string   `json:"namespace,omitempty"`
	Resources []string `json:"resources"`
	Labels    []struct {
		Pairs            map[string]string `json:"pairs"`
		IncludeSelectors bool              `json:"includeSelectors,omitempty"`
		IncludeTemplates bool              `json:"includeTemplates,omitempty"`
	} `json:"labels,omitempty"`
	Images []struct {
		Name    string `json:"name"`
		NewName string `json:"newName,omitempty"`
		NewTag  string `json:"newTag,omitempty"`
		Digest  string `json:"digest,omitempty"`
	} `json:"images,omitempty"`
}

// kinds maps apiVersion/kind to a new value of its type.
var kinds = map[string]func() any{
	"v1/Namespace":                  func() any { return &corev1.Namespace{} },
	"v1/ServiceAccount":             func() any { return &corev1.ServiceAccount{} },
	"v1/ConfigMap":                  func() any { return &corev1.ConfigMap{} },
	"v1/Secret":                     func() any { return &corev1.Secret{} },
	"v1/Service":                    func() any { return &corev1.Service{} },
	"apps/v1/Deployment":            func() any { return &appsv1.Deployment{} },
	"policy/v1/PodDisruptionBudget": func() any { return &policyv1.PodDisruptionBudget{} },
	"kustomize.config.k8s.io/v1beta1/Kustomization": func() any { return &kustomization{} },
	"jetstream.nats.io/v1beta2/Stream":              func() any { return &nackStream{} },
	"jetstream.nats.io/v1beta2/Consumer":            func() any { return &nackConsumer{} },
	"jetstream.nats.io/v1beta2/KeyValue":            func() any { return &nackKeyValue{} },
}

// objects holds every manifest of deploy/kubernetes and deploy/nack,
// decoded, by file name (one document per file).
type objects map[string]any

var docSeparator = regexp.MustCompile(`(?m)^---\s*$`)

// load decodes every manifest strictly: unknown fields, duplicate keys and
// unknown kinds are errors.
func load(t *testing.T) objects {
	t.Helper()
	objs := objects{}
	for _, dir := range []string{"kubernetes", "nack"} {
		files, err := filepath.Glob(filepath.Join(dir, "*.y*ml"))
		if err != nil || len(files) == 0 {
			t.Fatalf("no manifests in %s (%v)", dir, err)
		}
		for _, file := range files {
			data, err := os.ReadFile(file)
			if err != nil {
				t.Fatal(err)
			}
			var docs [][]byte
			for _, d := range docSeparator.Split(string(data), -1) {
				if strings.TrimSpace(stripComments(d)) != "" {
					docs = append(docs, []byte(d))
				}
			}
			if len(docs) != 1 {
				t.Errorf("%s: %d documents, want one per file", file, len(docs))
				continue
			}
			var tm typeMeta
			if err := yaml.Unmarshal(docs[0], &tm); err != nil {
				t.Errorf("%s: %v", file, err)
				continue
			}
			newObj, ok := kinds[tm.APIVersion+"/"+tm.Kind]
			if !ok {
				t.Errorf("%s: unknown apiVersion/kind %s/%s", file, tm.APIVersion, tm.Kind)
				continue
			}
			obj := newObj()
			if err := strictYAML(docs[0], obj); err != nil {
				t.Errorf("%s: %s/%s does not decode strictly: %v", file, tm.APIVersion, tm.Kind, err)
				continue
			}
			objs[file] = obj
		}
	}
	if t.Failed() {
		t.FailNow()
	}
	return objs
}

// strictYAML decodes as the API server's strict field validation does:
// duplicate keys, unknown fields and fields in the wrong case are errors.
func strictYAML(doc []byte, v any) error {
	j, err := yaml.YAMLToJSONStrict(doc)
	if err != nil {
		return err
	}
	return strictJSON(j, v)
}

// strictJSON decodes case-sensitively, refusing unknown and duplicate
// fields.
func strictJSON(data []byte, v any) error {
	strict, err := sigsjson.UnmarshalStrict(data, v, sigsjson.DisallowDuplicateFields, sigsjson.DisallowUnknownFields)
	if err != nil {
		return err
	}
	return errors.Join(strict...)
}

func stripComments(doc string) string {
	var b strings.Builder
	for _, l := range strings.Split(doc, "\n") {
		if !strings.HasPrefix(strings.TrimSpace(l), "#") {
			b.WriteString(l + "\n")
		}
	}
	return b.String()
}

// get returns the object of file, of type T.
func get[T any](t *testing.T, objs objects, file string) T {
	t.Helper()
	o, ok := objs[filepath.FromSlash(file)].(T)
	if !ok {
		t.Fatalf("%s: missing, or not a %T", file, o)
	}
	return o
}

func TestManifestsDecodeStrictly(t *testing.T) {
	t.Parallel()
	objs := load(t)
	// The kustomization lists every manifest but the example Secret.
	k := get[*kustomization](t, objs, "kubernetes/kustomization.yaml")
	for file := range objs {
		base := filepath.Base(file)
		if filepath.Dir(file) != "kubernetes" || base == "kustomization.yaml" || base == "secret.example.yaml" {
			continue
		}
		if !slices.Contains(k.Resources, base) {
			t.Errorf("kustomization.yaml does not list %s", base)
		}
	}
	for _, r := range k.Resources {
		if _, ok := objs[filepath.Join("kubernetes", r)]; !ok {
			t.Errorf("kustomization.yaml lists %s, which is not a manifest here", r)
		}
	}
	if slices.Contains(k.Resources, "secret.example.yaml") {
		t.Error("kustomization.yaml must not apply the example Secret's placeholders")
	}
	// Namespaced objects sit in the kustomization's namespace.
	for file, o := range objs {
		if ns := namespaceOf(o); ns != "" && ns != k.Namespace {
			t.Errorf("%s: namespace %q, want %q", file, ns, k.Namespace)
		}
	}
}

func namespaceOf(o any) string {
	switch o := o.(type) {
	case *corev1.ServiceAccount:
		return o.Namespace
	case *corev1.ConfigMap:
		return o.Namespace
	case *corev1.Secret:
		return o.Namespace
	case *corev1.Service:
		return o.Namespace
	case *appsv1.Deployment:
		return o.Namespace
	case *policyv1.PodDisruptionBudget:
		return o.Namespace
	case *nackStream:
		return o.Metadata.Namespace
	case *nackConsumer:
		return o.Metadata.Namespace
	case *nackKeyValue:
		return o.Metadata.Namespace
	}
	return ""
}

func TestDeployment(t *testing.T) {
	t.Parallel()
	objs := load(t)
	d := get[*appsv1.Deployment](t, objs, "kubernetes/deployment.yaml")
	cm := get[*corev1.ConfigMap](t, objs, "kubernetes/configmap.yaml")
	secret := get[*corev1.Secret](t, objs, "kubernetes/secret.example.yaml")
	pdb := get[*policyv1.PodDisruptionBudget](t, objs, "kubernetes/poddisruptionbudget.yaml")
	svc := get[*corev1.Service](t, objs, "kubernetes/service.yaml")
	sa := get[*corev1.ServiceAccount](t, objs, "kubernetes/serviceaccount.yaml")

	pod := d.Spec.Template.Spec
	podLabels := d.Spec.Template.Labels
	if d.Spec.Replicas == nil || *d.Spec.Replicas < 2 {
		t.Errorf("replicas %v: run at least two workers", d.Spec.Replicas)
	}
	if !subset(d.Spec.Selector.MatchLabels, podLabels) {
		t.Errorf("the Deployment's selector %v does not match its pods' labels %v", d.Spec.Selector.MatchLabels, podLabels)
	}
	if pdb.Spec.Selector == nil || !subset(pdb.Spec.Selector.MatchLabels, podLabels) {
		t.Errorf("the PodDisruptionBudget's selector does not match the worker pods")
	}
	if pdb.Spec.MinAvailable == nil || pdb.Spec.MinAvailable.IntValue() < 1 || pdb.Spec.MinAvailable.IntValue() >= int(*d.Spec.Replicas) {
		t.Errorf("PodDisruptionBudget minAvailable %v: want at least 1 and fewer than the %d replicas", pdb.Spec.MinAvailable, *d.Spec.Replicas)
	}
	if !subset(svc.Spec.Selector, podLabels) {
		t.Errorf("the Service's selector %v does not match the worker pods", svc.Spec.Selector)
	}
	if pod.ServiceAccountName != sa.Name {
		t.Errorf("serviceAccountName %q, want %q", pod.ServiceAccountName, sa.Name)
	}

	// Non-root, read-only, no privileges.
	psc := pod.SecurityContext
	if psc == nil || psc.RunAsNonRoot == nil || !*psc.RunAsNonRoot || psc.RunAsUser == nil || *psc.RunAsUser != imageUID {
		t.Errorf("pod securityContext %+v: want runAsNonRoot and runAsUser %d (the image's user)", psc, imageUID)
	}
	if len(pod.Containers) != 1 {
		t.Fatalf("%d containers, want the worker alone", len(pod.Containers))
	}
	c := pod.Containers[0]
	sc := c.SecurityContext
	switch {
	case sc == nil:
		t.Error("the worker container has no securityContext")
	case sc.ReadOnlyRootFilesystem == nil || !*sc.ReadOnlyRootFilesystem:
		t.Error("the worker's root file system is not read-only")
	case sc.AllowPrivilegeEscalation == nil || *sc.AllowPrivilegeEscalation:
		t.Error("the worker may escalate privileges")
	case sc.Capabilities == nil || !slices.Contains(sc.Capabilities.Drop, "ALL"):
		t.Error("the worker keeps its capabilities: drop ALL")
	}
	for _, r := range []corev1.ResourceName{corev1.ResourceCPU, corev1.ResourceMemory} {
		if c.Resources.Requests.Name(r, "").IsZero() || c.Resources.Limits.Name(r, "").IsZero() {
			t.Errorf("the worker has no %s request or limit", r)
		}
	}

	// Probes: /healthz for liveness, /readyz for readiness, on HTTP_ADDR's port.
	port := map[string]int32{}
	for _, p := range c.Ports {
		port[p.Name] = p.ContainerPort
	}
	httpAddr := cm.Data["HTTP_ADDR"]
	for name, probe := range map[string]*corev1.Probe{"/healthz": c.LivenessProbe, "/readyz": c.ReadinessProbe} {
		if probe == nil || probe.HTTPGet == nil || probe.HTTPGet.Path != name {
			t.Errorf("want an HTTP probe on %s", name)
			continue
		}
		p := probe.HTTPGet.Port
		n := p.IntVal
		if p.StrVal != "" {
			n = port[p.StrVal]
		}
		if want := ":" + strconv.Itoa(int(n)); n == 0 || !strings.HasSuffix(httpAddr, want) {
			t.Errorf("the %s probe's port %s is not HTTP_ADDR %q", name, p.String(), httpAddr)
		}
	}

	// Configuration: the ConfigMap whole, secrets as files from the Secret.
	if len(c.EnvFrom) != 1 || c.EnvFrom[0].ConfigMapRef == nil || c.EnvFrom[0].ConfigMapRef.Name != cm.Name {
		t.Errorf("envFrom %+v: want the ConfigMap %s", c.EnvFrom, cm.Name)
	}
	mounts := map[string]string{} // mount path -> secret name
	for _, m := range c.VolumeMounts {
		for _, v := range pod.Volumes {
			if v.Name == m.Name && v.Secret != nil {
				mounts[m.MountPath] = v.Secret.SecretName
			}
		}
	}
	env := map[string]string{}
	tmp := t.TempDir()
	for k, v := range cm.Data {
		env[k] = v
	}
	for _, e := range c.Env {
		if e.ValueFrom != nil {
			continue
		}
		if _, dup := cm.Data[e.Name]; dup {
			t.Errorf("%s is set both in the ConfigMap and in the Deployment", e.Name)
		}
		if !strings.HasSuffix(e.Name, "_FILE") {
			env[e.Name] = e.Value
			continue
		}
		dir, key := filepath.Split(e.Value)
		name, ok := mounts[filepath.Clean(dir)]
		if !ok || name != secret.Name {
			t.Errorf("%s=%s is not in the mount of the Secret %s", e.Name, e.Value, secret.Name)
		}
		if _, ok := secret.StringData[key]; !ok {
			t.Errorf("%s=%s: the Secret has no key %q", e.Name, e.Value, key)
		}
		// The worker checks the file exists: point it at a stand-in.
		stand := filepath.Join(tmp, key)
		if err := os.WriteFile(stand, []byte("token\n"), 0o600); err != nil {
			t.Fatal(err)
		}
		env[e.Name] = stand
	}
	if _, err := config.Load(nil, config.MapEnv(env), io.Discard); err != nil {
		t.Errorf("the worker refuses the manifests' configuration: %v", err)
	}
	known := map[string]bool{}
	for _, v := range config.Variables() {
		known[v[0]] = true
	}
	for k := range cm.Data {
		if !known[k] {
			t.Errorf("ConfigMap key %s is no setting of the worker", k)
		}
	}

	shutdown, err := time.ParseDuration(cm.Data["WORKER_SHUTDOWN_TIMEOUT"])
	if err != nil {
		t.Fatalf("WORKER_SHUTDOWN_TIMEOUT: %v", err)
	}
	if pod.TerminationGracePeriodSeconds == nil || time.Duration(*pod.TerminationGracePeriodSeconds)*time.Second <= shutdown+5*time.Second {
		t.Errorf("terminationGracePeriodSeconds %v leaves no room after WORKER_SHUTDOWN_TIMEOUT %s", pod.TerminationGracePeriodSeconds, shutdown)
	}
}

// TestJetStreamDefinitions checks deploy/nats/*.json (for `nats stream add
// --config` and `nats consumer add --config`) against what the worker
// provisions, and deploy/nack against them.
func TestJetStreamDefinitions(t *testing.T) {
	t.Parallel()
	var stream jetstream.StreamConfig
	decodeJSON(t, "nats/stream.json", &stream)
	var cons jetstream.ConsumerConfig
	decodeJSON(t, "nats/consumer.json", &cons)
	objs := load(t)
	cm := get[*corev1.ConfigMap](t, objs, "kubernetes/configmap.yaml")
	d := get[*appsv1.Deployment](t, objs, "kubernetes/deployment.yaml")
	ns := get[*nackStream](t, objs, "nack/stream.yaml")
	nc := get[*nackConsumer](t, objs, "nack/consumer.yaml")

	// What the worker provisions, with the ConfigMap's settings.
	topo := wabatype.Topology{Stream: cm.Data["WORKER_STREAM"], Consumer: cm.Data["WORKER_CONSUMER"]}.WithDefaults()
	concurrency := atoi(t, cm.Data["WORKER_CONCURRENCY"])
	maxDeliver := atoi(t, cm.Data["WORKER_MAX_DELIVER"])
	ackWait, err := time.ParseDuration(cm.Data["WORKER_ACK_WAIT"])
	if err != nil {
		t.Fatal(err)
	}
	wantStream := worker.StreamConfig(topo)
	wantCons := worker.ConsumerConfig(topo, concurrency, maxDeliver, ackWait)

	if stream.Replicas != 3 {
		t.Errorf("stream.json: num_replicas %d, want 3 (a three-node cluster)", stream.Replicas)
	}
	got := stream
	got.Replicas = wantStream.Replicas
	if !reflect.DeepEqual(got, wantStream) {
		t.Errorf("stream.json is not the stream the worker provisions:\n got %+v\nwant %+v", got, wantStream)
	}
	if !reflect.DeepEqual(cons, wantCons) {
		t.Errorf("consumer.json is not the consumer the worker provisions:\n got %+v\nwant %+v", cons, wantCons)
	}
	if cons.MaxAckPending < concurrency*int(*d.Spec.Replicas) {
		t.Errorf("max_ack_pending %d < WORKER_CONCURRENCY %d x %d replicas", cons.MaxAckPending, concurrency, *d.Spec.Replicas)
	}

	// The NACK resources say the same.
	s := ns.Spec
	same(t, "Stream name", s.Name, stream.Name)
	same(t, "Stream description", s.Description, stream.Description)
	same(t, "Stream subjects", strings.Join(s.Subjects, ","), strings.Join(stream.Subjects, ","))
	same(t, "Stream storage", s.Storage, enum(t, stream.Storage))
	same(t, "Stream retention", s.Retention, enum(t, stream.Retention))
	same(t, "Stream discard", s.Discard, enum(t, stream.Discard))
	same(t, "Stream replicas", s.Replicas, stream.Replicas)
	same(t, "Stream duplicateWindow", duration(t, s.DuplicateWindow), stream.Duplicates)

	c := nc.Spec
	same(t, "Consumer streamName", c.StreamName, stream.Name)
	same(t, "Consumer durableName", c.DurableName, cons.Durable)
	same(t, "Consumer description", c.Description, cons.Description)
	same(t, "Consumer filterSubject", c.FilterSubject, cons.FilterSubject)
	same(t, "Consumer filterSubjects", strings.Join(c.FilterSubjects, ","), strings.Join(cons.FilterSubjects, ","))
	same(t, "Consumer deliverPolicy", c.DeliverPolicy, enum(t, cons.DeliverPolicy))
	same(t, "Consumer ackPolicy", c.AckPolicy, enum(t, cons.AckPolicy))
	same(t, "Consumer ackWait", duration(t, c.AckWait), cons.AckWait)
	same(t, "Consumer maxDeliver", c.MaxDeliver, cons.MaxDeliver)
	same(t, "Consumer maxAckPending", c.MaxAckPending, cons.MaxAckPending)
	same(t, "Consumer replayPolicy", c.ReplayPolicy, enum(t, cons.ReplayPolicy))
	same(t, "Consumer replicas", c.Replicas, cons.Replicas)
}

// decodeJSON decodes file strictly: unknown, duplicate or miscased fields
// and trailing data fail.
func decodeJSON(t *testing.T, file string, v any) {
	t.Helper()
	data, err := os.ReadFile(file)
	if err != nil {
		t.Fatal(err)
	}
	if err := strictJSON(data, v); err != nil {
		t.Fatalf("%s: %v", file, err)
	}
}

// enum is how a JetStream enum is written in JSON ("file", "limits", ...).
func enum(t *testing.T, v any) string {
	t.Helper()
	b, err := json.Marshal(v)
	if err != nil {
		t.Fatal(err)
	}
	s, err := strconv.Unquote(string(b))
	if err != nil {
		t.Fatalf("%T encodes as %s", v, b)
	}
	return s
}

func duration(t *testing.T, s string) time.Duration {
	t.Helper()
	d, err := time.ParseDuration(s)
	if err != nil {
		t.Fatalf("duration %q: %v", s, err)
	}
	return d
}

func atoi(t *testing.T, s string) int {
	t.Helper()
	n, err := strconv.Atoi(s)
	if err != nil {
		t.Fatal(err)
	}
	return n
}

func same[T comparable](t *testing.T, what string, got, want T) {
	t.Helper()
	if got != want {
		t.Errorf("%s: %v in deploy/nack, %v in deploy/nats", what, got, want)
	}
}

func subset(sel, labels map[string]string) bool {
	if len(sel) == 0 {
		return false
	}
	for k, v := range sel {
		if labels[k] != v {
			return false
		}
	}
	return true
}

// TestKeyValueDefinitions checks deploy/nack's KV buckets against what the
// worker provisions.
func TestKeyValueDefinitions(t *testing.T) {
	t.Parallel()
	objs := load(t)
	cm := get[*corev1.ConfigMap](t, objs, "kubernetes/configmap.yaml")
	ttl := lease.DefaultTTL
	if v := cm.Data["WORKER_LEASE_TTL"]; v != "" {
		ttl = duration(t, v)
	}
	for file, want := range map[string]jetstream.KeyValueConfig{
		"nack/keyvalue-locks.yaml": lease.BucketConfig(cmp.Or(cm.Data["WORKER_LOCK_BUCKET"], lease.DefaultBucket), ttl, 3),
		"nack/keyvalue-state.yaml": ledger.BucketConfig(cmp.Or(cm.Data["WORKER_STATE_BUCKET"], ledger.DefaultBucket), 3),
	} {
		kv := get[*nackKeyValue](t, objs, file).Spec
		same(t, file+" bucket", kv.Bucket, want.Bucket)
		same(t, file+" description", kv.Description, want.Description)
		same(t, file+" history", kv.History, int(want.History))
		var gotTTL time.Duration
		if kv.TTL != "" {
			gotTTL = duration(t, kv.TTL)
		}
		same(t, file+" ttl", gotTTL, want.TTL)
		same(t, file+" storage", kv.Storage, enum(t, want.Storage))
		same(t, file+" replicas", kv.Replicas, want.Replicas)
	}
	script, err := os.ReadFile("nats/keyvalues.sh")
	if err != nil {
		t.Fatal(err)
	}
	for _, want := range []string{"nats kv add waba_locks", "--ttl " + ttl.String(), "nats kv add waba_state"} {
		if !strings.Contains(string(script), want) {
			t.Errorf("nats/keyvalues.sh lacks %q", want)
		}
	}
}
