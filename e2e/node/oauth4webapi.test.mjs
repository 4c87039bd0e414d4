// Drives a running latch server with panva's oauth4webapi: discovery,
// client_credentials (validated as an RFC 9068 JWT access token), the password
// grant and refresh rotation, introspection and revocation. Started by
// cmd/latch's TestOAuth4WebAPI, which passes the server's URL and credentials.
import assert from 'node:assert/strict'
import * as oauth from 'oauth4webapi'

const env = (k) => {
  const v = process.env[k]
  if (!v) throw new Error(`${k} is not set`)
  return v
}
const issuer = new URL(env('LATCH_URL'))
const secret = env('E2E_CLIENT_SECRET')
const password = env('E2E_USER_PASSWORD')
const insecure = { [oauth.allowInsecureRequests]: true } // loopback http in tests

const steps = []
const step = async (name, fn) => {
  await fn()
  steps.push(name)
  console.log(`ok - ${name}`)
}

const as = await oauth.processDiscoveryResponse(issuer, await oauth.discoveryRequest(issuer, { algorithm: 'oauth2', ...insecure }))
const reader = { client_id: 'premium-reader' }
const app = { client_id: 'payroll-app' }
let ccToken, userTokens

await step('discovery', async () => {
  assert.equal(as.issuer, issuer.href.replace(/\/$/, ''))
  assert.ok(as.token_endpoint && as.introspection_endpoint && as.revocation_endpoint && as.jwks_uri)
})

await step('client_credentials, validated as an RFC 9068 access token', async () => {
  const res = await oauth.clientCredentialsGrantRequest(as, reader, oauth.ClientSecretBasic(secret), { scope: 'premium/read' }, insecure)
  ccToken = await oauth.processClientCredentialsResponse(as, reader, res)
  assert.equal(ccToken.token_type.toLowerCase(), 'bearer')
  assert.equal(ccToken.scope, 'premium/read')
  const req = new Request('http://api.test/premium/article', { headers: { authorization: `Bearer ${ccToken.access_token}` } })
  const claims = await oauth.validateJwtAccessToken(as, req, 'premium', { ...insecure, signingAlgorithms: ['ES256'] })
  assert.equal(claims.client_id, 'premium-reader')
  assert.equal(claims.sub, 'premium-reader')
  assert.equal(claims.org_id, 'payroll')
})

await step('client_credentials with a wrong secret is refused', async () => {
  const res = await oauth.clientCredentialsGrantRequest(as, reader, oauth.ClientSecretPost('x'.repeat(43)), {}, insecure)
  await assert.rejects(oauth.processClientCredentialsResponse(as, reader, res), (e) => e.error === 'invalid_client')
})

await step('password grant and refresh rotation', async () => {
  const res = await oauth.genericTokenEndpointRequest(as, app, oauth.ClientSecretPost(secret), 'password', { username: 'employee5', password }, insecure)
  userTokens = await oauth.processGenericTokenEndpointResponse(as, app, res)
  assert.ok(userTokens.refresh_token)
  const next = await oauth.processRefreshTokenResponse(as, app, await oauth.refreshTokenGrantRequest(as, app, oauth.ClientSecretBasic(secret), userTokens.refresh_token, insecure))
  assert.notEqual(next.refresh_token, userTokens.refresh_token)
  userTokens = next
})

await step('introspection', async () => {
  const res = await oauth.introspectionRequest(as, reader, oauth.ClientSecretBasic(secret), ccToken.access_token, insecure)
  const info = await oauth.processIntrospectionResponse(as, reader, res)
  assert.equal(info.active, true)
  assert.equal(info.client_id, 'premium-reader')
  const unknown = await oauth.processIntrospectionResponse(as, reader, await oauth.introspectionRequest(as, reader, oauth.ClientSecretBasic(secret), 'not-a-token', insecure))
  assert.deepEqual(unknown, { active: false })
})

await step('revocation of a refresh token ends its family', async () => {
  await oauth.processRevocationResponse(await oauth.revocationRequest(as, app, oauth.ClientSecretBasic(secret), userTokens.refresh_token, insecure))
  const info = await oauth.processIntrospectionResponse(as, reader, await oauth.introspectionRequest(as, reader, oauth.ClientSecretBasic(secret), userTokens.access_token, insecure))
  assert.equal(info.active, false)
  const res = await oauth.refreshTokenGrantRequest(as, app, oauth.ClientSecretBasic(secret), userTokens.refresh_token, insecure)
  await assert.rejects(oauth.processRefreshTokenResponse(as, app, res), (e) => e.error === 'invalid_grant')
})

console.log(`# ${steps.length} steps passed`)
