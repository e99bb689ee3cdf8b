package main

import (
	"context"
	"crypto/rand"
	"fmt"
	"io"
	"text/tabwriter"

	"tandem/auth"
	"tandem/collab"
)

const appUsage = `Usage:
  tandem app create --name NAME [--public-key BASE64] [--webhook URL]
                                                        register a host app; prints its id and secret
  tandem app list                                       list apps
  tandem app revoke ID                                  revoke an app: its tokens stop working
  tandem app webhook ID URL                             set the app's webhook; prints its signing secret
  tandem app unhook ID                                  remove the app's webhook

An app's server signs JWTs for its users with the secret (HS256), or with
the Ed25519 key whose public half is --public-key (EdDSA): see
docs/security.md. The secret is shown once. A revocation here takes effect
at the next request. On Postgres the running servers are told and close
the app's open sockets at once; on the embedded store they stay open until
their tokens expire (revoke over REST, DELETE /api/apps/{id}, to close
them at once).

A webhook gets {doc, version, title} when one of the app's documents
changes, signed with its own secret (shown once; setting the webhook again
makes a new one): see docs/security.md, "Webhooks". Loopback and private
addresses are refused unless --webhook-allow-private.

Flags:
`

func appCommand(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	fs := newFlagSet("tandem app", appUsage, stderr)
	var db dbFlags
	db.register(fs)
	name := fs.String("name", "", "for create: the app's name")
	publicKey := fs.String("public-key", "", "for create: an Ed25519 public key, base64 of 32 bytes, for EdDSA tokens")
	webhook := fs.String("webhook", "", "for create: the app's webhook URL (see `tandem app webhook`)")
	allowPrivate := fs.Bool("webhook-allow-private", false, "accept a webhook URL on a loopback or private address")
	pos, err := parseArgs(fs, args)
	if err != nil {
		return err
	}
	switch {
	case len(pos) == 1 && pos[0] == "create":
		if *name == "" {
			return usageError(fs, "tandem app create: --name is required")
		}
		if *webhook != "" {
			if err := collab.CheckWebhookURL(*webhook, *allowPrivate); err != nil {
				return usageError(fs, "tandem app create: --webhook %s", err)
			}
		}
	case len(pos) == 1 && pos[0] == "list":
	case len(pos) == 2 && pos[0] == "revoke":
	case len(pos) == 2 && pos[0] == "unhook":
	case len(pos) == 3 && pos[0] == "webhook":
		if err := collab.CheckWebhookURL(pos[2], *allowPrivate); err != nil {
			return usageError(fs, "tandem app webhook: %s", err)
		}
	default:
		return usageError(fs, "tandem app: want create, list, revoke ID, webhook ID URL or unhook ID")
	}
	b, err := db.openCurrent(ctx)
	if err != nil {
		return err
	}
	defer b.Close()
	switch pos[0] {
	case "create":
		created, err := auth.CreateApp(ctx, b.store, auth.AppRequest{Name: *name, PublicKey: *publicKey})
		if err != nil {
			return err
		}
		fmt.Fprintf(stdout, "created app %s (%s)\nid:     %s\nsecret: %s\n", created.App.Name, created.App.ID, created.App.ID, created.Secret)
		if *webhook != "" {
			hook, err := collab.SetWebhook(ctx, b.store, created.App.ID, *webhook, *allowPrivate)
			if err != nil {
				return err
			}
			fmt.Fprintf(stdout, "webhook: %s\nwebhook secret: %s\n", hook.Webhook.URL, hook.Secret)
		}
		return nil
	case "webhook":
		hook, err := collab.SetWebhook(ctx, b.store, pos[1], pos[2], *allowPrivate)
		if err != nil {
			return fmt.Errorf("set the webhook of app %s (is it revoked?): %w", pos[1], err)
		}
		fmt.Fprintf(stdout, "webhook of app %s: %s\nwebhook secret: %s\n", pos[1], hook.Webhook.URL, hook.Secret)
		return nil
	case "unhook":
		if err := b.store.DeleteWebhook(ctx, pos[1]); err != nil {
			return fmt.Errorf("app %s has no webhook: %w", pos[1], err)
		}
		fmt.Fprintf(stdout, "removed the webhook of app %s\n", pos[1])
		return nil
	case "list":
		apps, err := b.store.ListApps(ctx)
		if err != nil {
			return err
		}
		tw := tabwriter.NewWriter(stdout, 0, 4, 2, ' ', 0)
		fmt.Fprintln(tw, "ID\tNAME\tEDDSA\tCREATED\tREVOKED")
		for _, a := range apps {
			revoked := "-"
			if a.RevokedAt != nil {
				revoked = a.RevokedAt.UTC().Format("2006-01-02 15:04:05Z")
			}
			fmt.Fprintf(tw, "%s\t%s\t%t\t%s\t%s\n", a.ID, a.Name, a.PublicKey != "", a.CreatedAt.UTC().Format("2006-01-02 15:04:05Z"), revoked)
		}
		return tw.Flush()
	default:
		if err := b.store.RevokeApp(ctx, pos[1]); err != nil {
			return fmt.Errorf("no app %s to revoke (or revoked already): %w", pos[1], err)
		}
		fmt.Fprintf(stdout, "revoked app %s\n", pos[1])
		if b.pg != nil {
			// The servers on this database close the app's sockets when
			// they hear it; on the embedded store, until their tokens
			// expire (or revoke over REST).
			ev := collab.Event{Kind: collab.EventSignout, Node: "cli-" + rand.Text(), Credential: auth.AppCredential(pos[1])}
			if err := collab.NotifyDoorbell(b.pg, doorbellChannel).Ring(ctx, ev); err != nil {
				fmt.Fprintf(stderr, "the servers were not told (their app sockets stay open until their tokens expire): %v\n", err)
			}
		}
		return nil
	}
}
