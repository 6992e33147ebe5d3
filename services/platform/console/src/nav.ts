/** Goes to a screen of the console (hash routes: nothing personal in the address). */
export const go = (path: string): void => {
  location.hash = `#/${path}`;
};
