package airlock

// Version of airlock; recorded (informational only) in every bundle's inventory.
const Version = "0.1.0-dev"
