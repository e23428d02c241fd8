export { AccessControl, parseCidr, ipMatcher, ipOf, VIOLATION_LIMIT, VIOLATION_WINDOW_MS, CUT_OFF_MS, type AccessCounters, type AccessInit, type CutOff } from './access-control.ts'
export { TrustStore, type PeerRecord, type InviteRecord, type InviteRefusal, type Redemption } from './trust-store.ts'
export { encodeInviteToken, decodeInviteToken, type InviteToken } from './invite-token.ts'
export { defaultPermissions, PermissionsSchema, RoleSchema, type Permissions, type Role } from './permissions.ts'
