function applyFilters(){
var s=document.getElementById('f-status').value,o=document.getElementById('f-op').value,d=document.getElementById('f-dtype').value,q=document.getElementById('f-text').value.toLowerCase();
var rows=document.querySelectorAll('#cases tbody tr.case'),n=0;
for(var i=0;i<rows.length;i++){var r=rows[i];var ok=(!s||r.dataset.status===s)&&(!o||r.dataset.op===o)&&(!d||r.dataset.dtype===d)&&(!q||r.dataset.id.toLowerCase().indexOf(q)>=0);
r.style.display=ok?'':'none';var det=r.nextElementSibling;if(det&&det.classList.contains('detail'))det.style.display=ok?'':'none';if(ok)n++;}
document.getElementById('f-count').textContent=n+' shown';}
document.addEventListener('DOMContentLoaded',function(){['f-status','f-op','f-dtype','f-text'].forEach(function(id){var e=document.getElementById(id);e.addEventListener('input',applyFilters);e.addEventListener('change',applyFilters);});applyFilters();});
