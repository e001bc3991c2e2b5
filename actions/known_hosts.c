/* known_hosts: host key types on record for a host. See known_hosts.h. */
#define _POSIX_C_SOURCE 200809L
#include "known_hosts.h"
#include "ssh_config.h"
#include "util.h"

#include <openssl/evp.h>
#include <openssl/hmac.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* Base64-decodes s into out (at most n bytes); returns the length or -1. */
static int b64dec(const char *s, unsigned char *out, size_t n)
{
	size_t len = strlen(s);
	if (!len || len % 4 || (len / 4) * 3 > n)
		return -1;
	int r = EVP_DecodeBlock(out, (const unsigned char *)s, (int)len);
	if (r < 0)
		return -1;
	while (len && s[len - 1] == '=') { /* EVP_DecodeBlock counts padding */
		len--;
		r--;
	}
	return r;
}

/* Does one host field name it? A hashed entry (|1|salt|hash), or a
 * comma-separated list of patterns where a matching `!pattern` vetoes
 * the line whatever else matches. */
static int names_host(const char *field, const char *name)
{
	if (!strncmp(field, "|1|", 3)) {
		char *copy = xstrdup(field + 3), *bar = strchr(copy, '|');
		int match = 0;
		if (bar) {
			*bar = '\0';
			unsigned char salt[64], want[64], got[EVP_MAX_MD_SIZE];
			unsigned int glen = 0;
			int sl = b64dec(copy, salt, sizeof salt), wl = b64dec(bar + 1, want, sizeof want);
			if (sl > 0 && wl == 20 &&
			    HMAC(EVP_sha1(), salt, sl, (const unsigned char *)name, strlen(name), got, &glen) && glen == 20)
				match = !memcmp(got, want, 20);
		}
		free(copy);
		return match;
	}
	return ssh_pattern_list_match(field, ",", name);
}

/* One known_hosts line, split in place: marker ("" or "@revoked" ...),
 * host field, key type and base64 key. Returns 0 for a comment, a blank
 * or a malformed line. */
struct kh_line {
	const char *marker, *hosts, *type, *key;
};

static int split_line(char *line, struct kh_line *l)
{
	char *save = NULL, *w = strtok_r(line, " \t\r\n", &save);
	if (!w || w[0] == '#')
		return 0;
	l->marker = "";
	if (w[0] == '@') {
		l->marker = w;
		w = strtok_r(NULL, " \t\r\n", &save);
	}
	l->hosts = w;
	l->type = strtok_r(NULL, " \t\r\n", &save);
	l->key = strtok_r(NULL, " \t\r\n", &save);
	return l->hosts && l->type;
}

static char *entry_name(const char *host, int port)
{
	return port == 22 ? xstrdup(host) : xasprintf("[%s]:%d", host, port);
}

/* The key type a raw SSH key blob names (string at its start), or "". */
static void blob_type(const unsigned char *key, size_t len, char *out, size_t n)
{
	out[0] = '\0';
	if (len < 4)
		return;
	size_t tl = (size_t)key[0] << 24 | (size_t)key[1] << 16 | (size_t)key[2] << 8 | key[3];
	if (tl >= n || tl > len - 4)
		return;
	memcpy(out, key + 4, tl);
	out[tl] = '\0';
}

enum kh_verdict known_hosts_check(const char *path, const char *host, int port, const unsigned char *key, size_t len)
{
	char *name = entry_name(host, port), type[64], line[16384];
	blob_type(key, len, type, sizeof type);
	unsigned char *raw = xmalloc(sizeof line);
	int revoked = 0, match = 0, other = 0, ca = 0;
	FILE *f = fopen(path, "r");
	while (f && fgets(line, sizeof line, f)) {
		struct kh_line l;
		if (!split_line(line, &l) || !names_host(l.hosts, name))
			continue;
		if (!strcmp(l.marker, "@cert-authority")) {
			ca = 1;
			continue;
		}
		int rl = l.key ? b64dec(l.key, raw, sizeof line) : -1;
		int same = rl >= 0 && (size_t)rl == len && !memcmp(raw, key, len);
		if (!strcmp(l.marker, "@revoked"))
			revoked |= same;
		else if (!l.marker[0] && same)
			match = 1;
		else if (!l.marker[0] && !strcmp(l.type, type))
			other = 1;
	}
	if (f)
		fclose(f);
	free(raw);
	free(name);
	if (revoked) /* a revoked key is refused even when also listed plainly */
		return KH_REVOKED;
	if (match)
		return KH_MATCH;
	if (other)
		return KH_CHANGED;
	return ca ? KH_CA_ONLY : KH_UNKNOWN;
}

char *known_hosts_algorithms(const char *path, const char *host, int port)
{
	/* OpenSSH's order of preference */
	static const struct {
		const char *type, *algs;
	} order[] = {
		{"ssh-ed25519", "ssh-ed25519"},
		{"ecdsa-sha2-nistp256", "ecdsa-sha2-nistp256"},
		{"ecdsa-sha2-nistp384", "ecdsa-sha2-nistp384"},
		{"ecdsa-sha2-nistp521", "ecdsa-sha2-nistp521"},
		{"ssh-rsa", "rsa-sha2-512,rsa-sha2-256,ssh-rsa"},
		{"ssh-dss", "ssh-dss"},
	};
	int found[sizeof order / sizeof order[0]] = {0};
	char *name = entry_name(host, port);
	FILE *f = fopen(path, "r");
	char line[16384];
	while (f && fgets(line, sizeof line, f)) {
		struct kh_line l; /* @cert-authority / @revoked lines are no plain key */
		if (!split_line(line, &l) || l.marker[0] || !names_host(l.hosts, name))
			continue;
		for (size_t i = 0; i < sizeof order / sizeof order[0]; i++)
			if (!strcmp(l.type, order[i].type))
				found[i] = 1;
	}
	if (f)
		fclose(f);
	free(name);
	struct sbuf sb;
	sbuf_init(&sb);
	for (size_t i = 0; i < sizeof order / sizeof order[0]; i++)
		if (found[i])
			sbuf_addf(&sb, "%s%s", sb.len ? "," : "", order[i].algs);
	return sb.len ? sbuf_detach(&sb) : NULL;
}

unsigned char *public_key_blob(const char *key, size_t *len)
{
	char *path = xasprintf("%s.pub", key), line[16384];
	FILE *f = fopen(path, "r");
	free(path);
	unsigned char *blob = NULL;
	struct kh_line l; /* "type base64 comment" reads as a host field, type and key */
	if (f && fgets(line, sizeof line, f) && split_line(line, &l) && !l.marker[0]) {
		blob = xmalloc(sizeof line);
		int r = b64dec(l.type, blob, sizeof line);
		if (r <= 0) {
			free(blob);
			blob = NULL;
		} else {
			*len = (size_t)r;
		}
	}
	if (f)
		fclose(f);
	return blob;
}
