// A real OpenID provider for the tests (npm's oidc-provider), on 127.0.0.1 only, with test people.
//
//   PORT=19010 CLIENT_ID=escalation-tracker CLIENT_SECRET=... REDIRECT_URIS=http://a/cb,http://b/cb node provider.js
//
// The issuer is http://127.0.0.1:PORT. One confidential client (client_secret_post), the authorization
// code flow with PKCE required. Its sign-in page (/interaction/<uid>) takes any username with no
// password (this is a test peer, never a real one), the person's groups (comma-separated; by default
// from the username: moderator, lead, auditor) and whether they used a second factor (amr
// ["pwd", "mfa"], else ["pwd"]). Consent is implied (a first-party client).
//
// Usernames starting with "spoil-" make the provider misbehave at the token endpoint, to show the
// client refuses what a broken or hostile provider might send, each signed with the provider's own key
// unless said otherwise: spoil-expired (exp an hour ago), spoil-audience (aud another client),
// spoil-issuer (iss another issuer), spoil-tampered (a group added after signing: the signature no
// longer matches).
import { createServer } from 'node:http';
import { generateKeyPairSync, sign } from 'node:crypto';
import Provider from 'oidc-provider';

const port = Number(process.env.PORT || 19010);
const issuer = `http://127.0.0.1:${port}`;
const clientId = process.env.CLIENT_ID || 'escalation-tracker';
const clientSecret = process.env.CLIENT_SECRET || 'ci-client-secret-of-the-escalation-tracker';
const redirectUris = (process.env.REDIRECT_URIS || 'http://testserver/accounts/oidc/callback/').split(',');

const { privateKey } = generateKeyPairSync('rsa', { modulusLength: 2048 });
const signingJwk = { ...privateKey.export({ format: 'jwk' }), kid: 'ci-key-1', use: 'sig', alg: 'RS256' };

const DEFAULT_GROUPS = { moderator: ['tt-moderators'], lead: ['tt-leads'], auditor: ['tt-auditors'] };
const people = new Map(); // username -> { groups }

const b64url = (value) => Buffer.from(value).toString('base64url');
const decode = (part) => JSON.parse(Buffer.from(part, 'base64url').toString());

function signJwt(header, payload) {
  const input = `${b64url(JSON.stringify(header))}.${b64url(JSON.stringify(payload))}`;
  return `${input}.${sign('sha256', Buffer.from(input), privateKey).toString('base64url')}`;
}

function spoil(idToken) {
  const [h, p, s] = idToken.split('.');
  const header = decode(h);
  const payload = decode(p);
  const now = Math.floor(Date.now() / 1000);
  switch (true) {
    case payload.sub.startsWith('spoil-expired'):
      return signJwt(header, { ...payload, iat: now - 7200, exp: now - 3600 });
    case payload.sub.startsWith('spoil-audience'):
      return signJwt(header, { ...payload, aud: 'another-client' });
    case payload.sub.startsWith('spoil-issuer'):
      return signJwt(header, { ...payload, iss: `${issuer}/another-issuer` });
    case payload.sub.startsWith('spoil-tampered'):
      return `${h}.${b64url(JSON.stringify({ ...payload, groups: ['tt-leads'] }))}.${s}`;
    default:
      return idToken;
  }
}

const configuration = {
  clients: [
    {
      client_id: clientId,
      client_secret: clientSecret,
      redirect_uris: redirectUris,
      grant_types: ['authorization_code'],
      response_types: ['code'],
      token_endpoint_auth_method: 'client_secret_post',
    },
  ],
  jwks: { keys: [signingJwk] },
  cookies: { keys: ['ci-only-cookie-key-not-a-secret'] },
  pkce: { required: () => true },
  // Claims asked for by scope go in the ID token too (the client reads groups from either).
  conformIdTokenClaims: false,
  scopes: ['openid', 'email', 'profile', 'groups'],
  claims: {
    // amr with openid: the provider leaves any claim out of the ID token that no scope asked for.
    openid: ['sub', 'amr'],
    email: ['email', 'email_verified'],
    profile: ['preferred_username', 'name'],
    groups: ['groups'],
  },
  features: { devInteractions: { enabled: false } },
  interactions: { url: (ctx, interaction) => `/interaction/${interaction.uid}` },
  async findAccount(ctx, id) {
    return {
      accountId: id,
      async claims() {
        const person = people.get(id) || { groups: DEFAULT_GROUPS[id] || [] };
        return {
          sub: id,
          email: `${id}@example.test`,
          email_verified: true,
          preferred_username: id,
          name: id,
          groups: person.groups,
        };
      },
    };
  },
  // A first-party client: every scope it asks for is granted without a consent page.
  async loadExistingGrant(ctx) {
    const grant = new ctx.oidc.provider.Grant({
      accountId: ctx.oidc.session.accountId,
      clientId: ctx.oidc.client.clientId,
    });
    grant.addOIDCScope('openid email profile groups');
    await grant.save();
    return grant;
  },
};

const provider = new Provider(issuer, configuration);

// The tracker under test runs on whatever loopback port its test picked: any loopback callback of
// ours is accepted beside the registered ones (a test peer only; a real provider matches exactly).
const LOOPBACK_CALLBACK = /^http:\/\/(127\.0\.0\.1|localhost|testserver)(:\d+)?\/accounts\/oidc\/callback\/$/;
const registeredOnly = provider.Client.prototype.redirectUriAllowed;
provider.Client.prototype.redirectUriAllowed = function redirectUriAllowed(value) {
  return LOOPBACK_CALLBACK.test(value) || registeredOnly.call(this, value);
};

provider.use(async (ctx, next) => {
  await next();
  if (ctx.path === '/token' && ctx.body && typeof ctx.body.id_token === 'string') {
    ctx.body = { ...ctx.body, id_token: spoil(ctx.body.id_token) };
  }
});

function page(uid) {
  return `<!doctype html><html lang="en"><head><meta charset="utf-8"><title>Test provider sign-in</title></head>
<body><h1>Test provider</h1>
<form method="post" action="/interaction/${uid}/login">
<p><label for="login">Username</label> <input id="login" name="login" autocomplete="off"></p>
<p><label for="groups">Groups (comma-separated; empty: none; leave out for the defaults)</label>
   <input id="groups" name="groups" value="__default__"></p>
<p><label><input type="checkbox" id="mfa" name="mfa" value="1"> Used a second factor</label></p>
<button type="submit" id="submit">Sign in</button>
</form></body></html>`;
}

async function body(req) {
  const chunks = [];
  for await (const chunk of req) chunks.push(chunk);
  return new URLSearchParams(Buffer.concat(chunks).toString());
}

const handle = provider.callback();

const server = createServer(async (req, res) => {
  const match = req.url.match(/^\/interaction\/([\w-]+)(\/login)?$/);
  if (!match) {
    handle(req, res);
    return;
  }
  try {
    const details = await provider.interactionDetails(req, res);
    if (!match[2] && req.method === 'GET') {
      res.writeHead(200, { 'content-type': 'text/html; charset=utf-8' });
      res.end(page(details.uid));
      return;
    }
    if (match[2] && req.method === 'POST') {
      const form = await body(req);
      const login = (form.get('login') || '').trim();
      if (!login) {
        res.writeHead(400).end('login required');
        return;
      }
      const groupsField = form.get('groups');
      const groups = groupsField === null || groupsField === '__default__'
        ? DEFAULT_GROUPS[login] || []
        : groupsField.split(',').map((g) => g.trim()).filter(Boolean);
      people.set(login, { groups });
      const amr = form.get('mfa') ? ['pwd', 'mfa'] : ['pwd'];
      await provider.interactionFinished(req, res, { login: { accountId: login, amr } }, {
        mergeWithLastSubmission: false,
      });
      return;
    }
    res.writeHead(405).end();
  } catch (err) {
    res.writeHead(400, { 'content-type': 'text/plain' }).end(String(err));
  }
});

server.listen(port, '127.0.0.1', () => {
  console.log(`oidc provider listening on ${issuer}`);
});
