package ingress

import (
	"bufio"
	"bytes"
	"maps"
	"slices"
	"strings"

	corev1 "k8s.io/api/core/v1"
	netv1 "k8s.io/api/networking/v1"

	"github.com/turnpikegw/turnpike/internal/importer"
	"github.com/turnpikegw/turnpike/internal/plugins/basicauth"
)

// credentialKinds are the konghq.com/credential values and the Kong
// declarative key their credentials go under.
var credentialKinds = map[string]string{
	"key-auth": "keyauth_credentials", "basic-auth": "basicauth_credentials", "jwt": "jwt_secrets",
	"acl": "acls", "hmac-auth": "hmacauth_credentials", "oauth2": "oauth2_credentials",
}

// consumers adds the KongConsumers with their credential Secrets.
func (c *converter) consumers() {
	for _, kc := range c.o.consumers {
		obj := "KongConsumer " + kc.Namespace + "/" + kc.Name
		if kc.Username == "" && kc.CustomID == "" {
			c.ws.Add(obj, "username", "neither username nor custom_id: not imported")
			continue
		}
		cons := &importer.Consumer{Username: kc.Username, CustomID: kc.CustomID, Credentials: map[string][]importer.Fields{},
			Tags: tagsOf(kc.TypeMeta, kc.ObjectMeta)}
		if kc.Username != "" {
			cons.Username = c.cfg.UniqueName(importer.KindConsumer, kc.Username)
			if cons.Username != kc.Username {
				c.ws.Add(obj, "username", "%q is taken: imported as %q", kc.Username, cons.Username)
			}
		}
		if p := kc.Annotations[kongPrefix+"plugins"]; p != "" {
			cons.Plugins = c.plugins(obj, kongPrefix+"plugins", kc.Namespace, p)
		}
		for _, name := range kc.Credentials {
			c.credential(obj, kc.Namespace, name, cons)
		}
		if len(kc.ConsumerGroups) > 0 {
			c.ws.Add(obj, "consumerGroups", "consumer groups are not imported: ignored")
		}
		c.cfg.Consumers = append(c.cfg.Consumers, cons)
	}
}

func (c *converter) credential(obj, ns, name string, cons *importer.Consumer) {
	sec := c.o.secrets[key(ns, name)]
	if sec == nil {
		c.ws.Add(obj, "credentials", "Secret %s/%s is not in the input: credential not imported", ns, name)
		return
	}
	kind := sec.Labels["konghq.com/credential"]
	if kind == "" {
		kind = string(sec.Data["kongCredType"]) // before KIC 3, the kind was a data key
	}
	dst, ok := credentialKinds[kind]
	if !ok {
		c.ws.Add(obj, "credentials", "Secret %s/%s: konghq.com/credential %q is not one of key-auth, basic-auth, jwt, acl, hmac-auth, oauth2: not imported", ns, name, kind)
		return
	}
	f := importer.Fields{}
	for _, k := range slices.Sorted(maps.Keys(sec.Data)) {
		switch v := string(sec.Data[k]); {
		case k == "kongCredType":
		case k == "redirect_uris":
			f[k] = splitList(v)
		case k == "hash_secret":
			f[k] = v == "true"
		default:
			f[k] = v
		}
	}
	credentialTags(f, tagsOf(sec.TypeMeta, sec.ObjectMeta))
	cons.Credentials[dst] = append(cons.Credentials[dst], f)
}

// basicAuth protects the Ingress's routes with basic-auth and the users of
// its htpasswd Secret. Each Secret's users get an acl group of the Secret
// and the routes allow only it, so that a user of one Secret never opens
// an Ingress protected by another.
func (c *converter) basicAuth(in *netv1.Ingress, s *settings) {
	obj := objName(in)
	ref := in.Annotations[nginxPrefix+"auth-secret"]
	if ref == "" {
		c.ws.Add(obj, nginxPrefix+"auth-secret", "auth-type basic without auth-secret: every request is refused")
	}
	ns, name, ok := strings.Cut(ref, "/")
	if !ok {
		ns, name = in.Namespace, ref
	}
	group := ns + "." + name
	s.addPlugin(&importer.Plugin{Name: "basic-auth", Config: map[string]any{"hide_credentials": true}})
	s.addPlugin(&importer.Plugin{Name: "acl", Config: map[string]any{"allow": []any{group}}})
	if ref == "" || c.authGroups[group] {
		return
	}
	c.authGroups[group] = true
	sec := c.o.secrets[key(ns, name)]
	if sec == nil {
		c.ws.Add(obj, nginxPrefix+"auth-secret", "Secret %s/%s is not in the input: every request is refused", ns, name)
		return
	}
	users := c.htpasswd(obj, sec, in.Annotations[nginxPrefix+"auth-secret-type"])
	for _, u := range users {
		if owner := c.basicUsers[u[0]]; owner != "" {
			c.ws.Add(obj, nginxPrefix+"auth-secret", "user %q of Secret %s is also in Secret %s (basic-auth usernames are global): skipped", u[0], group, owner)
			continue
		}
		c.basicUsers[u[0]] = group
		cons := &importer.Consumer{Username: c.cfg.UniqueName(importer.KindConsumer, group+"."+u[0]), Credentials: map[string][]importer.Fields{
			"basicauth_credentials": {{"username": u[0], "password": u[1]}},
			"acls":                  {{"group": group}},
		}, Tags: tagsOf(sec.TypeMeta, sec.ObjectMeta)}
		for _, creds := range cons.Credentials {
			credentialTags(creds[0], cons.Tags)
		}
		c.cfg.Consumers = append(c.cfg.Consumers, cons)
	}
}

// htpasswd reads the users of an auth-file Secret (key "auth", lines
// user:hash) or an auth-map one (user: hash per key), keeping the bcrypt
// hashes basic-auth accepts.
func (c *converter) htpasswd(obj string, sec *corev1.Secret, kind string) [][2]string {
	var pairs [][2]string
	if kind == "auth-map" {
		for _, u := range slices.Sorted(maps.Keys(sec.Data)) {
			pairs = append(pairs, [2]string{u, string(sec.Data[u])})
		}
	} else {
		sc := bufio.NewScanner(bytes.NewReader(sec.Data["auth"]))
		for sc.Scan() {
			line := strings.TrimSpace(sc.Text())
			if line == "" || strings.HasPrefix(line, "#") {
				continue
			}
			u, h, _ := strings.Cut(line, ":")
			pairs = append(pairs, [2]string{u, h})
		}
		if err := sc.Err(); err != nil {
			c.ws.Add(obj, nginxPrefix+"auth-secret", "Secret %s/%s: %v: the users after it are skipped", sec.Namespace, sec.Name, err)
		}
	}
	var out [][2]string
	for _, p := range pairs {
		switch {
		case p[0] == "":
			c.ws.Add(obj, nginxPrefix+"auth-secret", "Secret %s/%s: a line without a user name: skipped", sec.Namespace, sec.Name)
		case basicauth.IsHash(p[1]):
			if msg := basicauth.CheckHash(p[1]); msg != "" {
				c.ws.Add(obj, nginxPrefix+"auth-secret", "user %q of Secret %s/%s: %s: skipped", p[0], sec.Namespace, sec.Name, msg)
				continue
			}
			out = append(out, p)
		default:
			c.ws.Add(obj, nginxPrefix+"auth-secret", "user %q of Secret %s/%s: only bcrypt hashes (htpasswd -B) can be imported, not %s: skipped", p[0], sec.Namespace, sec.Name, hashKind(p[1]))
		}
	}
	return out
}

func hashKind(h string) string {
	switch {
	case strings.HasPrefix(h, "$apr1$"):
		return "apr1 (MD5)"
	case strings.HasPrefix(h, "{SHA}"):
		return "{SHA}"
	case strings.HasPrefix(h, "$1$"), strings.HasPrefix(h, "$5$"), strings.HasPrefix(h, "$6$"):
		return "crypt " + h[:3]
	}
	return "crypt or plain text"
}
