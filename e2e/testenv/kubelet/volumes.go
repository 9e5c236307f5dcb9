package kubelet

import (
	"context"
	"fmt"
	"os"
	"path/filepath"

	authv1 "k8s.io/api/authentication/v1"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/client-go/kubernetes"
)

// Volumes are directories under the Pod's state directory, filled once when the Pod starts
// and bind-mounted into its sandbox: emptyDir, secret, configMap, downwardAPI and projected
// (which is how the ServiceAccount admission plugin gives every Pod its API token, the
// cluster CA and its namespace). Tokens come from the TokenRequest API, bound to the Pod, so
// they stop working when the Pod is deleted. Not refreshed: e2e Pods live far shorter than
// a token (at least 10 minutes, an hour by default).
func prepareVolumes(ctx context.Context, cs kubernetes.Interface, pod *corev1.Pod, dir, nodeIP string) (map[string]string, error) {
	paths := map[string]string{}
	for _, v := range pod.Spec.Volumes {
		d := filepath.Join(dir, "volumes", v.Name)
		if err := os.MkdirAll(d, 0o755); err != nil {
			return nil, err
		}
		var err error
		switch {
		case v.EmptyDir != nil:
		case v.Secret != nil:
			err = writeSecret(ctx, cs, pod.Namespace, d, v.Secret.SecretName, v.Secret.Items, v.Secret.Optional)
		case v.ConfigMap != nil:
			err = writeConfigMap(ctx, cs, pod.Namespace, d, v.ConfigMap.Name, v.ConfigMap.Items, v.ConfigMap.Optional)
		case v.DownwardAPI != nil:
			err = writeDownward(pod, d, v.DownwardAPI.Items, nodeIP)
		case v.Projected != nil:
			for _, src := range v.Projected.Sources {
				switch {
				case src.ServiceAccountToken != nil:
					err = writeToken(ctx, cs, pod, d, src.ServiceAccountToken)
				case src.Secret != nil:
					err = writeSecret(ctx, cs, pod.Namespace, d, src.Secret.Name, src.Secret.Items, src.Secret.Optional)
				case src.ConfigMap != nil:
					err = writeConfigMap(ctx, cs, pod.Namespace, d, src.ConfigMap.Name, src.ConfigMap.Items, src.ConfigMap.Optional)
				case src.DownwardAPI != nil:
					err = writeDownward(pod, d, src.DownwardAPI.Items, nodeIP)
				}
				if err != nil {
					break
				}
			}
		default:
			err = fmt.Errorf("volume type not supported by the testenv kubelet")
		}
		if err != nil {
			return nil, fmt.Errorf("volume %s: %w", v.Name, err)
		}
		paths[v.Name] = d
	}
	return paths, nil
}

func writeFile(dir, name string, data []byte) error {
	p := filepath.Join(dir, name)
	if err := os.MkdirAll(filepath.Dir(p), 0o755); err != nil {
		return err
	}
	return os.WriteFile(p, data, 0o644)
}

func writeItems(dir string, data map[string][]byte, items []corev1.KeyToPath) error {
	if len(items) == 0 {
		for k, v := range data {
			if err := writeFile(dir, k, v); err != nil {
				return err
			}
		}
		return nil
	}
	for _, it := range items {
		v, ok := data[it.Key]
		if !ok {
			return fmt.Errorf("no key %q", it.Key)
		}
		if err := writeFile(dir, it.Path, v); err != nil {
			return err
		}
	}
	return nil
}

func writeSecret(ctx context.Context, cs kubernetes.Interface, ns, dir, name string, items []corev1.KeyToPath, optional *bool) error {
	s, err := cs.CoreV1().Secrets(ns).Get(ctx, name, metav1.GetOptions{})
	if err != nil {
		if optional != nil && *optional {
			return nil
		}
		return fmt.Errorf("secret %s: %w", name, err)
	}
	return writeItems(dir, s.Data, items)
}

func writeConfigMap(ctx context.Context, cs kubernetes.Interface, ns, dir, name string, items []corev1.KeyToPath, optional *bool) error {
	c, err := cs.CoreV1().ConfigMaps(ns).Get(ctx, name, metav1.GetOptions{})
	if err != nil {
		if optional != nil && *optional {
			return nil
		}
		return fmt.Errorf("configmap %s: %w", name, err)
	}
	data := map[string][]byte{}
	for k, v := range c.Data {
		data[k] = []byte(v)
	}
	for k, v := range c.BinaryData {
		data[k] = v
	}
	return writeItems(dir, data, items)
}

func writeDownward(pod *corev1.Pod, dir string, items []corev1.DownwardAPIVolumeFile, nodeIP string) error {
	for _, it := range items {
		if it.FieldRef == nil {
			continue // resourceFieldRef: no cgroups here
		}
		v, err := fieldValue(pod, it.FieldRef.FieldPath, nodeIP)
		if err != nil {
			return err
		}
		if err := writeFile(dir, it.Path, []byte(v)); err != nil {
			return err
		}
	}
	return nil
}

func writeToken(ctx context.Context, cs kubernetes.Interface, pod *corev1.Pod, dir string, p *corev1.ServiceAccountTokenProjection) error {
	req := &authv1.TokenRequest{Spec: authv1.TokenRequestSpec{
		ExpirationSeconds: p.ExpirationSeconds,
		BoundObjectRef:    &authv1.BoundObjectReference{Kind: "Pod", APIVersion: "v1", Name: pod.Name, UID: pod.UID},
	}}
	if p.Audience != "" {
		req.Spec.Audiences = []string{p.Audience}
	}
	sa := pod.Spec.ServiceAccountName
	if sa == "" {
		sa = "default"
	}
	tr, err := cs.CoreV1().ServiceAccounts(pod.Namespace).CreateToken(ctx, sa, req, metav1.CreateOptions{})
	if err != nil {
		return fmt.Errorf("token for serviceaccount %s: %w", sa, err)
	}
	return writeFile(dir, p.Path, []byte(tr.Status.Token))
}
