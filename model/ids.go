package model

import (
	"crypto/rand"
	"fmt"
	"time"
)

// TimeFormat is how Neutron prints created_at/updated_at (RFC 3339, UTC).
const TimeFormat = "2006-01-02T15:04:05Z"

// AdminProject is the project id resources get when the client names none
// (the agent has no Keystone; everything belongs to one admin project).
const AdminProject = "admin"

// NewID returns a random (version 4) UUID.
func NewID() string {
	var b [16]byte
	rand.Read(b[:])
	b[6] = b[6]&0x0f | 0x40
	b[8] = b[8]&0x3f | 0x80
	return fmt.Sprintf("%x-%x-%x-%x-%x", b[0:4], b[4:6], b[6:8], b[8:10], b[10:16])
}

// Now is the current time in TimeFormat.
func Now() string { return time.Now().UTC().Format(TimeFormat) }
