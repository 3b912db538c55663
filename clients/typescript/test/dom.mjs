// A jsdom window as the globals React DOM expects; imported before react-dom.
import { JSDOM } from "jsdom";

const dom = new JSDOM("<!doctype html><html><body></body></html>", { url: "https://app.example.test/billing" });
const { window } = dom;
for (const name of [
  "window", "document", "HTMLElement", "HTMLInputElement", "HTMLButtonElement", "Node", "Text", "Event",
  "MouseEvent", "KeyboardEvent", "FocusEvent", "InputEvent", "getComputedStyle", "MutationObserver",
]) {
  Object.defineProperty(globalThis, name, { value: name === "window" ? window : window[name], configurable: true, writable: true });
}
Object.defineProperty(globalThis, "navigator", { value: window.navigator, configurable: true });
globalThis.IS_REACT_ACT_ENVIRONMENT = true;
export { dom, window };
