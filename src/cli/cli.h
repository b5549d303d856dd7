/* cli/cli.h: the client subcommands of the ledgerline binary.
 * Owns:    nothing beyond one command's run. Threads: the main thread.
 * Each takes the arguments after its name and returns the exit status. */
#ifndef LL_CLI_CLI_H
#define LL_CLI_CLI_H

/* keygen: prints {"public_key","secret_key","address"}. */
int ll_cli_keygen(int argc, char **argv);

/* `ledgerline dev-cert DIR` (cli/devcert.c): a self-signed P-256 key and
 * certificate for localhost, DIR/key.pem and DIR/cert.pem, for trying TLS
 * locally. Refuses to overwrite. Exit status 0, 1 (failure) or 2 (usage). */
int ll_cli_dev_cert(int argc, char **argv);

/* sign --key FILE: reads an unsigned body on stdin, prints it signed. */
int ll_cli_sign(int argc, char **argv);

/* submit --key FILE [--url URL]: fills what is missing (sender_pubkey,
 * timestamp_ms, fee 0, the account's next nonce), signs, POSTs, prints the
 * answer; 0 on 202, 1 otherwise. */
int ll_cli_submit(int argc, char **argv);

#endif
