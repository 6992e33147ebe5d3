import { render } from 'preact';
import { useEffect, useState } from 'preact/hooks';
import { api } from './api';
import { startChanges, stopChanges } from './changes';
import { getLang, setLang, t, roleLabel, type Lang } from './i18n';
import { AdminPartners, AdminPersons } from './screens/admin';
import { AuditCase, AuditHome } from './screens/auditor';
import { Dashboard } from './screens/manager';
import { Persons, PersonPage, Register } from './screens/operator';
import { Inbox } from './screens/partner';
import { AssessmentPage, Caseload, Referrals } from './screens/team';
import { TakingCharge } from './screens/takingcharge';
import { SignInError } from './oidc';
import { devSignIn, loadSession, oidcReturn, oidcSignIn, signOut, useSession, type ConsoleConfig, type Session } from './session';
import { ProblemAlert, Submit, useSubmit } from './ui';

// The console's shell: sign-in, the header of Bootstrap Italia with the
// screens of the signed-in role, the language switch, and a hash router
// (#/persons, #/person/<id>, …): no personal data ever goes in the address.

type Route = { screen: string; id?: string | undefined };
const parse = (): Route => {
  const [screen = '', id] = location.hash.replace(/^#\/?/, '').split('/');
  return { screen, id };
};

const NAV: Record<string, Array<[string, Parameters<typeof t>[0]]>> = {
  operator: [
    ['persons', 'navPersons'],
    ['register', 'navRegister'],
  ],
  team: [
    ['caseload', 'navCaseload'],
    ['referrals', 'navReferrals'],
  ],
  partner: [['inbox', 'navInbox']],
  auditor: [['audit', 'navAudit']],
  admin: [
    ['partners', 'navPartners'],
    ['admin-persons', 'navPersons'],
    ['dashboard', 'navDashboard'],
  ],
};

function navOf(s: Session): Array<[string, Parameters<typeof t>[0]]> {
  const base = NAV[s.user.role] ?? [];
  return s.user.teamRole === 'network_manager' ? [...base, ['dashboard', 'navDashboard']] : base;
}

function Screen({ route, session }: { route: Route; session: Session }) {
  const role = session.user.role;
  const home = navOf(session)[0]?.[0] ?? '';
  const screen = route.screen || home;
  switch (screen) {
    case 'persons':
      return <Persons session={session} />;
    case 'register':
      return <Register />;
    case 'person':
      return <PersonPage id={route.id!} session={session} />;
    case 'caseload':
      return <Caseload session={session} />;
    case 'referrals':
      return <Referrals session={session} />;
    case 'care':
      return <TakingCharge personId={route.id!} session={session} />;
    case 'assessment':
      return <AssessmentPage id={route.id!} session={session} />;
    case 'inbox':
      return <Inbox session={session} filter={route.id} />;
    case 'dashboard':
      return <Dashboard session={session} />;
    case 'audit':
      return route.id ? <AuditCase personId={route.id} /> : <AuditHome />;
    case 'partners':
      return <AdminPartners />;
    case 'admin-persons':
      return <AdminPersons session={session} />;
    default:
      return <p>{t('notFound')} ({role})</p>;
  }
}

function Header({ session, lang, onLang, onSignOut, current }: { session?: Session | undefined; lang: Lang; onLang: (l: Lang) => void; onSignOut: () => void; current: string }) {
  return (
    <header class="it-header-wrapper">
      <div class="it-header-slim-wrapper">
        <div class="container">
          <div class="it-header-slim-wrapper-content d-flex justify-content-between align-items-center">
            <span class="d-lg-block navbar-brand text-white">{t('agreement')}</span>
            <div class="d-flex align-items-center gap-3">
              <button type="button" class="btn btn-sm btn-outline-light" onClick={() => onLang(lang === 'it' ? 'en' : 'it')} lang={lang === 'it' ? 'en' : 'it'}>
                {lang === 'it' ? 'English' : 'Italiano'}
              </button>
              {session && (
                <>
                  <span class="text-white" data-testid="who">
                    {session.user.name ?? session.user.sub} · {roleLabel(session.user)}
                  </span>
                  <button type="button" class="btn btn-sm btn-outline-light" onClick={onSignOut}>
                    {t('signOut')}
                  </button>
                </>
              )}
            </div>
          </div>
        </div>
      </div>
      <div class="it-header-center-wrapper">
        <div class="container">
          <div class="it-header-center-content-wrapper">
            <div class="it-brand-wrapper">
              <a href="#/" class="os-header-brand">
                <div class="it-brand-text">
                  <div class="it-brand-title">OneStop</div>
                  <div class="it-brand-tagline d-none d-md-block">{t('tagline')}</div>
                </div>
              </a>
            </div>
          </div>
        </div>
      </div>
      {session && (
        <div class="it-header-navbar-wrapper">
          <div class="container">
            <nav aria-label={t('mainNav')} class="os-nav">
              <ul class="nav">
                {navOf(session).map(([path, label]) => (
                  <li class="nav-item" key={path}>
                    <a class="nav-link" href={`#/${path}`} aria-current={current === path ? 'page' : undefined}>
                      {t(label)}
                    </a>
                  </li>
                ))}
              </ul>
            </nav>
          </div>
        </div>
      )}
    </header>
  );
}

function SignIn({ config, onSession }: { config: ConsoleConfig; onSession: (s: Session) => void }) {
  const [user, setUser] = useState(config.demoUsers[0]?.id ?? '');
  const { submit, busy, problem } = useSubmit((key) => devSignIn(user, key), onSession);
  return (
    <div class="row">
      <div class="col-lg-6">
        <h1 class="h2">{t('signInTitle')}</h1>
        {config.oidc && (
          <p>
            <button type="button" class="btn btn-primary" onClick={() => void oidcSignIn(config.oidc!, getLang())}>
              {t('signInOidc')}
            </button>
          </p>
        )}
        {config.devSignIn && (
          <form class="os-form" onSubmit={submit} aria-describedby="dev-note">
            <p id="dev-note" class="alert alert-warning">
              {t('devNote')}
            </p>
            <div class="form-group">
              <label for="demo-user">{t('demoUser')}</label>
              <select id="demo-user" name="user" class="form-select" value={user} onChange={(e) => setUser(e.currentTarget.value)}>
                {config.demoUsers.map((u) => (
                  <option key={u.id} value={u.id}>
                    {u.name ?? u.id} — {roleLabel(u)}
                  </option>
                ))}
              </select>
            </div>
            <ProblemAlert problem={problem} />
            <Submit busy={busy} label={t('signIn')} />
          </form>
        )}
        {!config.oidc && !config.devSignIn && <p class="alert alert-danger">{t('noSignIn')}</p>}
      </div>
    </div>
  );
}

function App() {
  const [lang, setLangState] = useState<Lang>(getLang());
  const [config, setConfig] = useState<ConsoleConfig>();
  const [session, setSession] = useState<Session | undefined>(loadSession());
  const [route, setRoute] = useState<Route>(parse());
  const [error, setError] = useState<string>();

  useEffect(() => {
    const onHash = () => setRoute(parse());
    addEventListener('hashchange', onHash);
    api<ConsoleConfig>('GET', '/app/config')
      .then(async (c) => {
        setConfig(c);
        if (c.oidc) {
          const s = await oidcReturn(c.oidc);
          if (s) setSession(s);
        }
      })
      .catch((e: unknown) => setError(e instanceof SignInError ? t(`signIn_${e.reason}`) : String((e as Error).message ?? e)));
    return () => removeEventListener('hashchange', onHash);
  }, []);

  // the token is set before the screens' first reads (their effects run before this component's)
  if (session) useSession(session, () => {
    signOut();
    setSession(undefined);
  });
  useEffect(() => {
    if (session) startChanges(session.token);
    return () => stopChanges();
  }, [session?.token]);

  useEffect(() => {
    document.documentElement.lang = lang;
    document.title = `OneStop – ${t('console')}`;
  }, [lang]);

  const changeLang = (l: Lang) => {
    setLang(l);
    setLangState(l);
  };
  const out = () => {
    signOut();
    setSession(undefined);
    location.hash = '';
  };
  return (
    <>
      <Header session={session} lang={lang} onLang={changeLang} onSignOut={out} current={route.screen || (session ? navOf(session)[0]?.[0] ?? '' : '')} />
      <main id="main" class="container os-main" tabIndex={-1}>
        {error && (
          <p class="alert alert-danger" role="alert">
            {error}
          </p>
        )}
        {!session && config && <SignIn config={config} onSession={setSession} />}
        {!session && !config && !error && <p role="status">{t('loading')}</p>}
        {session && <Screen route={route} session={session} key={`${route.screen}/${route.id ?? ''}/${lang}`} />}
      </main>
      <footer class="it-footer">
        <div class="it-footer-small-prints clearfix">
          <div class="container">
            <p class="text-white py-3 mb-0">{t('footer')}</p>
          </div>
        </div>
      </footer>
    </>
  );
}

render(<App />, document.getElementById('root')!);
