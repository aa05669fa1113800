// The width of an element in CSS pixels, kept current as it resizes.
import { useEffect, useState } from 'preact/hooks';

export function useWidth(ref, initial = 0) {
  const [width, setWidth] = useState(initial);
  useEffect(() => {
    const observer = new ResizeObserver(([entry]) => setWidth(Math.floor(entry.contentRect.width)));
    observer.observe(ref.current);
    return () => observer.disconnect();
  }, []);
  return width;
}
