// A capped log of text lines. Each push carries only the new lines, appended as text nodes
// (never HTML). Lines live in chunks of CHUNK: past maxLines the oldest whole chunk goes, so
// the browser restyles a few siblings, not every line (removing a list's first child makes
// it restyle the whole list). It follows the bottom unless the operator scrolled up.
// (NiceGUI's ui.log resends and re-renders every line per push.)
const CHUNK = 50;

export default {
  template: `<div class="nicegui-log" style="overflow-y: auto; white-space: pre-wrap"></div>`,
  props: { maxLines: Number, initial: Array },
  data() {
    return { count: 0 };
  },
  mounted() {
    this.push(this.initial || []);
  },
  methods: {
    push(lines) {
      const el = this.$el;
      const follow = el.scrollTop + el.clientHeight >= el.scrollHeight - 4;
      let chunk = el.lastElementChild;
      for (const text of lines) {
        if (!chunk || chunk.childElementCount >= CHUNK) {
          chunk = document.createElement("div");
          el.appendChild(chunk);
        }
        const line = document.createElement("div");
        line.textContent = text;
        chunk.appendChild(line);
        this.count += 1;
      }
      while (el.firstElementChild && this.count - el.firstElementChild.childElementCount >= this.maxLines) {
        this.count -= el.firstElementChild.childElementCount;
        el.removeChild(el.firstElementChild);
      }
      if (follow) el.scrollTop = el.scrollHeight;
    },
    clear() {
      this.$el.replaceChildren();
      this.count = 0;
    },
  },
};
