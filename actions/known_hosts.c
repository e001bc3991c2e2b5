/* known_hosts: host key types on record for a host. See known_hosts.h. */
#define _POSIX_C_SOURCE 200809L
#include "known_hosts.h"
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

/* Does one host pattern field (comma-separated, or |1|salt|hash) name it? */
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
	char *copy = xstrdup(field), *save = NULL;
	int match = 0;
	for (char *p = strtok_r(copy, ",", &save); p && !match; p = strtok_r(NULL, ",", &save))
		match = !strcmp(p, name);
	free(copy);
	return match;
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
	char *name = port == 22 ? xstrdup(host) : xasprintf("[%s]:%d", host, port);
	FILE *f = fopen(path, "r");
	char line[8192];
	while (f && fgets(line, sizeof line, f)) {
		char *save = NULL, *hosts = strtok_r(line, " \t\r\n", &save);
		if (!hosts || hosts[0] == '#')
			continue;
		if (hosts[0] == '@') /* @cert-authority / @revoked: not a plain key */
			continue;
		char *type = strtok_r(NULL, " \t\r\n", &save);
		if (!type || !names_host(hosts, name))
			continue;
		for (size_t i = 0; i < sizeof order / sizeof order[0]; i++)
			if (!strcmp(type, order[i].type))
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
