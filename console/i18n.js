// UI text in Spanish and English. The language is the reader's choice (kept in
// localStorage: it is not a secret), by default the browser's.
const TEXT = {
  en: {
    "tab.conversations": "Conversations", "tab.dead": "Dead letters", "tab.flows": "Flows", "tab.status": "Status",
    "signout": "Sign out", "signin.title": "Sign in", "signin.token": "Admin token",
    "signin.hint": "The token (CHARLA_ADMIN_TOKEN) is kept in this tab only and sent as a Bearer header.",
    "signin.button": "Sign in", "signin.wrong": "Wrong token.", "signin.failed": "Cannot reach charla: ",
    "filter.state": "State", "filter.all": "All", "filter.paused": "Paused", "filter.active": "Active",
    "filter.anyflow": "Any flow",
    "live": "Live: refreshed every 2 s. Last update ", "handoffs": "Waiting for a human",
    "handoffs.none": "Nobody is waiting.", "handoffs.unavailable": "Handoff queue not available on this server.",
    "waiting": "waiting", "paused": "paused", "none": "No conversations.", "back": "← Back",
    "state": "State", "flow": "Flow", "data": "ctx.data", "timers": "Pending timers", "outbox": "Outbox",
    "transcript": "Transcript", "agent": "agent", "reply": "Reply", "reply.placeholder": "Write a reply…",
    "reply.agent": "Agent name", "reply.send": "Send", "reply.sent": "Queued: ",
    "reply.closed": "The 24 h window is closed: send a template.", "template.name": "Template name",
    "template.language": "Language", "template.params": "Parameters (one per line)", "template.send": "Send template",
    "pause": "Pause", "resume": "Resume", "reset": "Reset", "setstate": "Set state", "runenter": "run enter",
    "resume.at": "resume at (optional)", "confirm.reset": "Reset this conversation? Its state and data are cleared.",
    "done": "Done.", "error": "Error: ", "dead.none": "No dead letters.", "retry": "Retry", "seq": "#",
    "flows.none": "No flows.", "graph": "Diagram", "mermaid": "Mermaid text (as charla graph prints it)",
    "edges": "Transitions", "status.title": "Status", "empty": "(none)", "location": "Location",
    "buttons": "Buttons", "list": "List", "media": "Media", "template": "Template",
    "list.cut": "Only the first 200 conversations (in key order) are shown: narrow the list with the filters.",
  },
  es: {
    "tab.conversations": "Conversaciones", "tab.dead": "Fallidos", "tab.flows": "Flujos", "tab.status": "Estado",
    "signout": "Salir", "signin.title": "Entrar", "signin.token": "Token de administración",
    "signin.hint": "El token (CHARLA_ADMIN_TOKEN) se guarda solo en esta pestaña y se envía como cabecera Bearer.",
    "signin.button": "Entrar", "signin.wrong": "Token incorrecto.", "signin.failed": "No se puede contactar charla: ",
    "filter.state": "Estado", "filter.all": "Todas", "filter.paused": "En pausa", "filter.active": "Activas",
    "filter.anyflow": "Cualquier flujo",
    "live": "En vivo: se actualiza cada 2 s. Última actualización ", "handoffs": "Esperando a una persona",
    "handoffs.none": "Nadie está esperando.", "handoffs.unavailable": "Este servidor no tiene cola de derivaciones.",
    "waiting": "esperando", "paused": "en pausa", "none": "No hay conversaciones.", "back": "← Volver",
    "state": "Estado", "flow": "Flujo", "data": "ctx.data", "timers": "Temporizadores pendientes", "outbox": "Envíos",
    "transcript": "Conversación", "agent": "agente", "reply": "Responder", "reply.placeholder": "Escribe una respuesta…",
    "reply.agent": "Nombre del agente", "reply.send": "Enviar", "reply.sent": "En cola: ",
    "reply.closed": "La ventana de 24 h está cerrada: envía una plantilla.", "template.name": "Plantilla",
    "template.language": "Idioma", "template.params": "Parámetros (uno por línea)", "template.send": "Enviar plantilla",
    "pause": "Pausar", "resume": "Reanudar", "reset": "Reiniciar", "setstate": "Cambiar estado", "runenter": "ejecutar enter",
    "resume.at": "reanudar en (opcional)", "confirm.reset": "¿Reiniciar esta conversación? Se borran su estado y datos.",
    "done": "Hecho.", "error": "Error: ", "dead.none": "No hay mensajes fallidos.", "retry": "Reintentar", "seq": "#",
    "flows.none": "No hay flujos.", "graph": "Diagrama", "mermaid": "Texto Mermaid (como lo imprime charla graph)",
    "edges": "Transiciones", "status.title": "Estado del servidor", "empty": "(ninguno)", "location": "Ubicación",
    "buttons": "Botones", "list": "Lista", "media": "Archivo", "template": "Plantilla",
    "list.cut": "Solo se muestran las primeras 200 conversaciones (por clave): usa los filtros para acotar.",
  },
};

let lang = localStorage.getItem("charla.lang") ||
  ((navigator.language || "en").toLowerCase().startsWith("es") ? "es" : "en");

export function t(key) {
  return (TEXT[lang] && TEXT[lang][key]) || TEXT.en[key] || key;
}

export function language() { return lang; }

export function toggleLanguage() {
  lang = lang === "es" ? "en" : "es";
  localStorage.setItem("charla.lang", lang);
}

// Fills every element marked data-i18n (text) or data-i18n-placeholder.
export function translatePage() {
  document.documentElement.lang = lang;
  for (const el of document.querySelectorAll("[data-i18n]")) el.textContent = t(el.dataset.i18n);
  for (const el of document.querySelectorAll("[data-i18n-placeholder]")) el.placeholder = t(el.dataset.i18nPlaceholder);
  document.getElementById("lang").textContent = lang === "es" ? "EN" : "ES";
}
