package auth

import (
	"context"
	"crypto/rand"
	"encoding/base64"
	"fmt"
	"slices"
	"strings"

	"roster/ent"
	"roster/ent/apikey"
	"roster/internal/apierr"
	"roster/internal/viewer"
)

// apiKeyPrefix marks API key secrets, distinct from session tokens.
const apiKeyPrefix = "rsk_"

// CreateAPIKey creates an API key of the caller's organization with
// permissions, which must be among the caller's own, and returns it with
// its secret: the only time the secret is available. Needs
// MANAGE_API_KEYS (the key's privacy rules), and a person, not a key.
func (s *Service) CreateAPIKey(ctx context.Context, name string, perms []viewer.Permission) (*ent.ApiKey, string, error) {
	v := viewer.FromContext(ctx)
	if v == nil {
		return nil, "", ErrNoCredentials
	}
	if !v.Can(viewer.ManageAPIKeys) || v.APIKeyID != 0 {
		return nil, "", apierr.New(apierr.Forbidden, "needs MANAGE_API_KEYS, as a person")
	}
	perms = slices.Compact(slices.Sorted(slices.Values(perms)))
	if len(perms) == 0 {
		return nil, "", apierr.Input("permissions", "name at least one permission")
	}
	for _, p := range perms {
		if !v.Can(p) {
			return nil, "", apierr.Input("permissions", "%s is not yours to give", p)
		}
	}
	b := make([]byte, 32)
	if _, err := rand.Read(b); err != nil {
		return nil, "", fmt.Errorf("generate API key: %w", err)
	}
	secret := apiKeyPrefix + base64.RawURLEncoding.EncodeToString(b)
	k, err := s.db(ctx).ApiKey.Create().
		SetName(strings.TrimSpace(name)).
		SetPrefix(secret[:len(apiKeyPrefix)+6]).
		SetSecretHash(HashToken(secret)).
		SetPermissions(perms).
		Save(ctx)
	if err != nil {
		return nil, "", err
	}
	return k, secret, nil
}

// RevokeAPIKey revokes API key id: it authenticates nothing from then on.
func (s *Service) RevokeAPIKey(ctx context.Context, id int) (*ent.ApiKey, error) {
	k, err := s.db(ctx).ApiKey.Get(ctx, id)
	if err != nil {
		return nil, err
	}
	if k.RevokedAt != nil {
		return k, nil
	}
	return s.db(ctx).ApiKey.UpdateOne(k).SetRevokedAt(s.now()).Save(ctx)
}

// authenticateKey returns the viewer of an unrevoked API key found by
// pred, recording its use at most once a minute.
func (s *Service) authenticateKey(ctx context.Context, k *ent.ApiKey, err error) (*viewer.Viewer, error) {
	if ent.IsNotFound(err) {
		return nil, ErrInvalidToken
	}
	if err != nil {
		return nil, fmt.Errorf("find API key: %w", err)
	}
	if k.RevokedAt != nil {
		return nil, ErrInvalidToken
	}
	if now := s.now(); k.LastUsedAt == nil || now.Sub(*k.LastUsedAt) > touchEvery {
		if err := s.client.ApiKey.UpdateOneID(k.ID).SetLastUsedAt(now).Exec(authenticating(ctx)); err != nil && !ent.IsNotFound(err) {
			s.log.WarnContext(ctx, "record API key use", "key", k.ID, "err", err)
		}
	}
	return &viewer.Viewer{OrganizationID: k.OrganizationID, APIKeyID: k.ID, Permissions: slices.Clone(k.Permissions)}, nil
}

// authenticateAPIKey returns the viewer of an API key secret.
func (s *Service) authenticateAPIKey(ctx context.Context, secret string) (*viewer.Viewer, error) {
	k, err := s.client.ApiKey.Query().Where(apikey.SecretHash(HashToken(secret))).Only(authenticating(ctx))
	return s.authenticateKey(ctx, k, err)
}

// APIKeyViewer returns the viewer of API key id as it is now, for each
// operation of a websocket opened with it.
func (s *Service) APIKeyViewer(ctx context.Context, id int) (*viewer.Viewer, error) {
	k, err := s.client.ApiKey.Query().Where(apikey.ID(id)).Only(authenticating(ctx))
	return s.authenticateKey(ctx, k, err)
}
