// placeholder
export async function statsListPage() { return { title: "Statistics", nodes: [] }; }
export async function statsPage() { return { title: "Statistics", nodes: [] }; }
