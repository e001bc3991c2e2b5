/*
 * ssh_config: how a host name becomes a connection, the OpenSSH way: the
 * `Host` blocks of ~/.ssh/config (patterns with * ? and !) give HostName,
 * User, Port and IdentityFile; the first value obtained wins, and what the
 * runbook's target says explicitly wins over the file.
 */
#ifndef RUNBOOK_SSH_CONFIG_H
#define RUNBOOK_SSH_CONFIG_H

struct ssh_host_config {
	char *hostname;  /* to connect to */
	char *user;
	int port;
	char *identity;  /* a key file, ~ expanded; NULL when none */
};

/* Fills cfg for alias from the config file at path (missing file: the
 * defaults). Strings are new; release with ssh_host_config_release. */
void ssh_config_lookup(const char *path, const char *alias, struct ssh_host_config *cfg);
void ssh_host_config_release(struct ssh_host_config *cfg);
/* Returns a new string with a leading "~/" replaced by $HOME/. */
char *ssh_expand_home(const char *path);

#endif
