// A capped log of text lines. Each push carries only the new lines, appended as text nodes
// (never HTML); past maxLines the oldest are dropped. It follows the bottom unless the
// operator scrolled up. (NiceGUI's ui.log resends and re-renders every line per push.)
export default {
  template: `<div class="nicegui-log" style="overflow-y: auto; white-space: pre-wrap"></div>`,
  props: { maxLines: Number, initial: Array },
  mounted() {
    this.push(this.initial || []);
  },
  methods: {
    push(lines) {
      const el = this.$el;
      const follow = el.scrollTop + el.clientHeight >= el.scrollHeight - 4;
      const batch = document.createDocumentFragment();
      for (const text of lines) {
        const line = document.createElement("div");
        line.textContent = text;
        batch.appendChild(line);
      }
      el.appendChild(batch);
      while (el.childElementCount > this.maxLines) el.removeChild(el.firstElementChild);
      if (follow) el.scrollTop = el.scrollHeight;
    },
    clear() {
      this.$el.replaceChildren();
    },
  },
};
