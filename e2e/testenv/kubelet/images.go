package kubelet

import (
	"context"
	"fmt"
	"path/filepath"
	"sort"
	"strings"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/client-go/kubernetes"
)

// Images maps an image repository (the image reference without tag or digest, e.g.
// "registry.k8s.io/gateway-api/echo-basic") to the local command that stands in for the
// image's ENTRYPOINT (e.g. ["/cache/bin/echo-basic"]). There is no container runtime: an
// image not in the table cannot run, and its container waits with reason ErrImageNotMapped.
type Images map[string][]string

// ParseImage parses "REPO=PROGRAM [ARG...]" (the --image flag's value).
func ParseImage(s string) (repo string, entry []string, err error) {
	repo, cmd, ok := strings.Cut(s, "=")
	entry = strings.Fields(cmd)
	if !ok || repo == "" || len(entry) == 0 {
		return "", nil, fmt.Errorf("--image %q: want REPO=PROGRAM [ARG...]", s)
	}
	return repoOf(repo), entry, nil
}

// repoOf strips the tag and digest of an image reference ("a/b:v1@sha256:..." -> "a/b"). A
// colon after the last slash starts the tag; one before it belongs to a registry port.
func repoOf(image string) string {
	if i := strings.Index(image, "@"); i >= 0 {
		image = image[:i]
	}
	if i := strings.LastIndex(image, ":"); i > strings.LastIndex(image, "/") {
		image = image[:i]
	}
	return image
}

func (im Images) String() string {
	keys := make([]string, 0, len(im))
	for k := range im {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	var b strings.Builder
	for _, k := range keys {
		fmt.Fprintf(&b, "%s=%s; ", k, strings.Join(im[k], " "))
	}
	return strings.TrimSuffix(b.String(), "; ")
}

// argv builds the process argv for a container, with Kubernetes' ENTRYPOINT/CMD rules: args
// replace the image's CMD (our table has none), command replaces the ENTRYPOINT. Since the
// image's file system does not exist here, a command is accepted only when its program is
// the mapped entrypoint's program (matched by base name, e.g. "/usr/local/bin/portico" for
// an entrypoint ".../build/portico"); anything else is an error the Pod's status shows.
func (im Images) argv(c *corev1.Container, env map[string]string) ([]string, error) {
	entry, ok := im[repoOf(c.Image)]
	if !ok {
		return nil, fmt.Errorf("image %q is not mapped to a local program (kube-testenv --image)", c.Image)
	}
	args := expandAll(c.Args, env)
	if len(c.Command) == 0 {
		return append(append([]string{}, entry...), args...), nil
	}
	cmd := expandAll(c.Command, env)
	for i, w := range entry {
		if filepath.Base(w) == filepath.Base(cmd[0]) {
			out := append([]string{}, entry[:i+1]...)
			return append(append(out, cmd[1:]...), args...), nil
		}
	}
	return nil, fmt.Errorf("command %q is not available for image %q (mapped to %q)", cmd[0], c.Image, strings.Join(entry, " "))
}

// expand replaces $(VAR) with env[VAR] and $$ with $, like the kubelet: unknown references
// stay as written.
func expand(s string, env map[string]string) string {
	var b strings.Builder
	for i := 0; i < len(s); i++ {
		if s[i] != '$' || i+1 >= len(s) {
			b.WriteByte(s[i])
			continue
		}
		if s[i+1] == '$' {
			b.WriteByte('$')
			i++
			continue
		}
		if s[i+1] == '(' {
			if j := strings.IndexByte(s[i+2:], ')'); j >= 0 {
				name := s[i+2 : i+2+j]
				if v, ok := env[name]; ok {
					b.WriteString(v)
					i += j + 2
					continue
				}
			}
		}
		b.WriteByte(s[i])
	}
	return b.String()
}

func expandAll(in []string, env map[string]string) []string {
	out := make([]string, len(in))
	for i, s := range in {
		out[i] = expand(s, env)
	}
	return out
}

// containerEnv resolves a container's environment in the kubelet's order: the service
// variables of the `kubernetes` Service first, then envFrom, then env (later wins), with
// $(VAR) references to earlier variables expanded. Secret and ConfigMap references are read
// from the API; fieldRef covers the downward API fields Pods use.
func containerEnv(ctx context.Context, cs kubernetes.Interface, pod *corev1.Pod, c *corev1.Container, nodeIP, svcHost string) (map[string]string, error) {
	env := map[string]string{
		"KUBERNETES_SERVICE_HOST":       svcHost,
		"KUBERNETES_SERVICE_PORT":       "443",
		"KUBERNETES_SERVICE_PORT_HTTPS": "443",
		"KUBERNETES_PORT":               "tcp://" + svcHost + ":443",
		"KUBERNETES_PORT_443_TCP":       "tcp://" + svcHost + ":443",
		"KUBERNETES_PORT_443_TCP_ADDR":  svcHost,
		"KUBERNETES_PORT_443_TCP_PORT":  "443",
		"KUBERNETES_PORT_443_TCP_PROTO": "tcp",
		"HOSTNAME":                      pod.Name,
		"PATH":                          "/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin",
		"HOME":                          "/root",
	}
	ns := pod.Namespace
	for _, ef := range c.EnvFrom {
		data, err := sourceData(ctx, cs, ns, ef.ConfigMapRef, ef.SecretRef)
		if err != nil {
			return nil, err
		}
		for k, v := range data {
			env[ef.Prefix+k] = v
		}
	}
	for _, e := range c.Env {
		if e.ValueFrom == nil {
			env[e.Name] = expand(e.Value, env)
			continue
		}
		v, err := valueFrom(ctx, cs, pod, e.ValueFrom, nodeIP)
		if err != nil {
			return nil, fmt.Errorf("env %s: %w", e.Name, err)
		}
		env[e.Name] = v
	}
	return env, nil
}

func sourceData(ctx context.Context, cs kubernetes.Interface, ns string, cm *corev1.ConfigMapEnvSource, sec *corev1.SecretEnvSource) (map[string]string, error) {
	out := map[string]string{}
	switch {
	case cm != nil:
		o, err := cs.CoreV1().ConfigMaps(ns).Get(ctx, cm.Name, metav1.GetOptions{})
		if err != nil {
			if cm.Optional != nil && *cm.Optional {
				return out, nil
			}
			return nil, err
		}
		for k, v := range o.Data {
			out[k] = v
		}
	case sec != nil:
		o, err := cs.CoreV1().Secrets(ns).Get(ctx, sec.Name, metav1.GetOptions{})
		if err != nil {
			if sec.Optional != nil && *sec.Optional {
				return out, nil
			}
			return nil, err
		}
		for k, v := range o.Data {
			out[k] = string(v)
		}
	}
	return out, nil
}

func valueFrom(ctx context.Context, cs kubernetes.Interface, pod *corev1.Pod, vf *corev1.EnvVarSource, nodeIP string) (string, error) {
	switch {
	case vf.FieldRef != nil:
		return fieldValue(pod, vf.FieldRef.FieldPath, nodeIP)
	case vf.ConfigMapKeyRef != nil:
		r := vf.ConfigMapKeyRef
		o, err := cs.CoreV1().ConfigMaps(pod.Namespace).Get(ctx, r.Name, metav1.GetOptions{})
		if err == nil {
			if v, ok := o.Data[r.Key]; ok {
				return v, nil
			}
			err = fmt.Errorf("configmap %s has no key %s", r.Name, r.Key)
		}
		if r.Optional != nil && *r.Optional {
			return "", nil
		}
		return "", err
	case vf.SecretKeyRef != nil:
		r := vf.SecretKeyRef
		o, err := cs.CoreV1().Secrets(pod.Namespace).Get(ctx, r.Name, metav1.GetOptions{})
		if err == nil {
			if v, ok := o.Data[r.Key]; ok {
				return string(v), nil
			}
			err = fmt.Errorf("secret %s has no key %s", r.Name, r.Key)
		}
		if r.Optional != nil && *r.Optional {
			return "", nil
		}
		return "", err
	case vf.ResourceFieldRef != nil:
		// No cgroups here: report "unlimited" the way the kubelet does without limits (the
		// node's allocatable would be the real answer; nobody in e2e reads it).
		return "0", nil
	}
	return "", fmt.Errorf("unsupported valueFrom")
}

// fieldValue answers the downward API's fieldRef paths.
func fieldValue(pod *corev1.Pod, path, nodeIP string) (string, error) {
	switch path {
	case "metadata.name":
		return pod.Name, nil
	case "metadata.namespace":
		return pod.Namespace, nil
	case "metadata.uid":
		return string(pod.UID), nil
	case "spec.nodeName":
		return pod.Spec.NodeName, nil
	case "spec.serviceAccountName":
		return pod.Spec.ServiceAccountName, nil
	case "status.podIP", "status.podIPs":
		return pod.Status.PodIP, nil
	case "status.hostIP", "status.hostIPs":
		return nodeIP, nil
	}
	for _, m := range []struct {
		prefix string
		from   map[string]string
	}{{"metadata.labels['", pod.Labels}, {"metadata.annotations['", pod.Annotations}} {
		if strings.HasPrefix(path, m.prefix) && strings.HasSuffix(path, "']") {
			return m.from[strings.TrimSuffix(strings.TrimPrefix(path, m.prefix), "']")], nil
		}
	}
	return "", fmt.Errorf("unsupported fieldPath %q", path)
}
