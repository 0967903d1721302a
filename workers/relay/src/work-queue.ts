// Best-effort background work with bounded concurrency and a bounded backlog: what a relay uses to
// tell next hops about circuits it tore down. A task past the backlog is dropped, which is safe
// for a DESTROY (the next hop's own idle expiry erases what it would have erased).

export class WorkQueue {
  private active = 0;
  private readonly backlog: (() => Promise<void>)[] = [];
  private readonly idle: (() => void)[] = [];

  constructor(
    private readonly concurrency: number,
    private readonly maxBacklog: number,
  ) {}

  /** Runs `task` now or later; false when it was dropped because the backlog is full. */
  push(task: () => Promise<void>): boolean {
    if (this.active < this.concurrency) {
      this.start(task);
      return true;
    }
    if (this.backlog.length >= this.maxBacklog) return false;
    this.backlog.push(task);
    return true;
  }

  /** Resolves when nothing is running or waiting. */
  drained(): Promise<void> {
    if (this.active === 0 && this.backlog.length === 0) return Promise.resolve();
    return new Promise((resolve) => this.idle.push(resolve));
  }

  get pending(): number {
    return this.active + this.backlog.length;
  }

  private start(task: () => Promise<void>): void {
    this.active++;
    void task()
      .catch(() => {})
      .finally(() => {
        this.active--;
        const next = this.backlog.shift();
        if (next) this.start(next);
        else if (this.active === 0) for (const resolve of this.idle.splice(0)) resolve();
      });
  }
}
