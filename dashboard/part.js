// A part of the page that the browser redraws on its own (dashboard/widgets.py: Part).
export default {
  template: `<div><slot></slot></div>`,
};
