// Package trust captures TUF repositories online and checks them offline.
//
// On the connected side, Capture runs the TUF client workflow (The Update
// Framework specification, "Detailed client workflow", 5.3-5.6) with
// go-tuf/v2 against a repository, Sigstore's public-good instance by default,
// and keeps every file it verified: the root chain, timestamp, snapshot,
// targets, delegated targets and the target files trusted_root.json and
// signing_config*.json.
//
// On the air-gapped side, a Store holds named pins: a root.json to start
// from and go-tuf's persisted state (the last accepted versions, TUF spec
// 5.2 and 5.3.x "rollback attack" checks). Store.Verify runs the same client
// workflow against the files a bundle carries, through a go-tuf fetcher that
// reads the bundle and never the network, and returns the verified
// trusted_root.json. A TimePolicy sets the clock: nothing in a bundle does.
//
// LoadPublicKey and LoadTrustedRoot load material an operator configured by
// hand (a cosign.pub, a trusted_root.json file); such material is always
// reported as operator-configured, never as TUF-verified.
//
// The package does not import airlock's bundle, verify or registry packages.
package trust
