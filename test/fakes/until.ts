/** Polls `pred` every 10 ms until it holds; rejects after `ms` (a limit, never an asserted duration). */
export function until(pred: () => boolean, ms = 5000): Promise<void> {
  const end = Date.now() + ms;
  return new Promise((resolve, reject) => {
    const t = setInterval(() => {
      if (pred()) {
        clearInterval(t);
        resolve();
      } else if (Date.now() > end) {
        clearInterval(t);
        reject(new Error('timed out'));
      }
    }, 10);
  });
}
