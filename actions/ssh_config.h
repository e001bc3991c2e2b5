/*
 * ssh_config: how a host name becomes a connection, the OpenSSH way: the
 * `Host` blocks (patterns with * ? and !, several per line) and `Match`
 * blocks (host, originalhost, user, localuser, all) of ~/.ssh/config and
 * the files it `Include`s give HostName, User, Port, IdentityFile (several),
 * UserKnownHostsFile, HostKeyAlias, ConnectTimeout, ServerAliveInterval and
 * ServerAliveCountMax, IdentitiesOnly,
 * ProxyCommand and ProxyJump, with the %h %p %r %u %d %% tokens; the first value
 * obtained wins, and what the runbook's target says explicitly wins over
 * the file. A keyword that would change where or how to connect and is
 * not supported (CertificateFile, PKCS11Provider, ...) is an
 * error for the hosts it applies to, never silently ignored.
 */
#ifndef RUNBOOK_SSH_CONFIG_H
#define RUNBOOK_SSH_CONFIG_H

#define SSH_MAX_IDENTITIES 8

struct ssh_host_config {
	char *hostname;  /* to connect to */
	char *user;
	int port;
	char *identity;  /* a key file, ~ expanded; NULL when none */
	char *more_identities[SSH_MAX_IDENTITIES]; /* further IdentityFile lines, in order */
	int n_more_identities;
	char *host_key_alias; /* HostKeyAlias: the name known_hosts is read under (no port) */
	int connect_timeout;  /* ConnectTimeout seconds (TCP connect and SSH handshake); 0: the step's deadline */
	int alive_interval;   /* ServerAliveInterval seconds; 0: off */
	int alive_count_max;  /* ServerAliveCountMax (default 3) */
	char *known_hosts; /* UserKnownHostsFile, ~ expanded; NULL when none */
	int identities_only; /* IdentitiesOnly yes: offer only `identity` */
	char *proxy_command; /* ProxyCommand, tokens expanded; NULL when none */
	char *proxy_jump; /* ProxyJump: "[user@]host[:port][,...]", nearest hop last; NULL when none */
	char *error;     /* "FILE:LINE: why" when the config cannot be honoured */
};

/* Fills cfg for alias from the config file at path (missing file: the
 * defaults). Strings are new; release with ssh_host_config_release. */
void ssh_config_lookup(const char *path, const char *alias, struct ssh_host_config *cfg);
void ssh_host_config_release(struct ssh_host_config *cfg);
/* Does s match the OpenSSH pattern list (split at any of sep: " \t" for
 * Host, "," for Match and known_hosts)? `*` and `?` only, case-insensitive
 * (`[` is literal, as in "[host]:port"); a matching `!pattern` vetoes. */
int ssh_pattern_list_match(const char *patterns, const char *sep, const char *s);
/* Returns a new string with a leading "~/" replaced by $HOME/. */
char *ssh_expand_home(const char *path);

#endif
